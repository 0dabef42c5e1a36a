"""The routes' dependencies, read from `request.app.state` (set once by `create_app`).

`Annotated` aliases keep the signatures short: `db: DbDep`, `p: PrincipalDep`. The workflow
engine and the routing engine are also looked up by plain functions (`get_work_orders`,
`get_unit_router`) that a route calls at the point its documented order of checks puts them: a
gateway whose engine is not connected still answers 401, 403, 404 and 422 as usual, and only
a request that would reach the engine gets the 503. (A dependency runs before any body or
query validation, so it would answer 503 first.)
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hotline.api.auth import principal
from hotline.api.errors import ApiError
from hotline.domain.routing.router import Router
from hotline.services.port import WorkOrderPort
from hotline.store import Database
from hotline.store.apikeys import Principal


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_work_orders(request: Request) -> WorkOrderPort:
    """The order engine (Temporal in production); 503 while it is not connected."""
    if request.app.state.work_orders is None:
        raise ApiError(503, "the workflow engine is not connected")
    return request.app.state.work_orders


def get_unit_router(request: Request) -> Router:
    """The routing engine (ranks units for a text); 503 until the catalogue is loaded."""
    if request.app.state.unit_router is None:
        raise ApiError(503, "the routing engine is not ready")
    return request.app.state.unit_router


DbDep = Annotated[Database, Depends(get_db)]
UnitRouterDep = Annotated[Router, Depends(get_unit_router)]
PrincipalDep = Annotated[Principal, Depends(principal)]
