"""Routing (派单建议): which units a text would go to, and open orders that may be the same matter."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query

from hotline.api.deps import DbDep, PrincipalDep, UnitRouterDep
from hotline.api.errors import ApiError
from hotline.api.params import District
from hotline.domain.models import Category
from hotline.services.duplicates import RoutingAnswer, find_duplicates

router = APIRouter(tags=["routing"])


@router.get("/api/v1/routing", response_model=RoutingAnswer,
            summary="ranked candidate units with the responsibility entries that matched, and "
                    "open orders that may be the same matter (`duplicates`)")
async def route(db: DbDep, _: PrincipalDep, router: UnitRouterDep, text: str = Query(min_length=1, max_length=5000),
                category: Category | None = None, district: District | None = None) -> RoutingAnswer:
    if not text.strip():
        raise ApiError(422, "text: must not be blank")
    result = router.route(text, category.value if category else None, district)
    dups = await asyncio.to_thread(find_duplicates, db, router, text, result.district)
    return RoutingAnswer(**result.model_dump(), duplicates=dups)
