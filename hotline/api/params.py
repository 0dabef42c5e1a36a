"""Path and query parameter types the routes share, so a pattern is spelled once."""
from __future__ import annotations

from typing import Annotated

from fastapi import Path

from hotline.domain.codes import ORDER_NO, UNIT_CODE, District

OrderNo = Annotated[str, Path(pattern=ORDER_NO, description="order number, e.g. SY20261126000123")]

__all__ = ["ORDER_NO", "UNIT_CODE", "District", "OrderNo"]
