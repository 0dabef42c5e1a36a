"""GeoReport v2 documents as JSON or XML, after the path's format suffix (`.json`, `.xml`).

Depends on nothing else of the API, so the error handlers (hotline/api/errors.py) can render
GeoReport errors without importing the Open311 routes.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from fastapi.responses import JSONResponse, Response

_ITEM = {"services": "service", "service_requests": "request", "attributes": "attribute", "values": "value",
         "endpoints": "endpoint", "formats": "format", "errors": "error"}


_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # characters XML 1.0 cannot carry


def _xml(tag: str, value: Any, parent: ET.Element | None = None) -> ET.Element:
    el = ET.Element(tag) if parent is None else ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for k, v in value.items():
            _xml(k, v, el)
    elif isinstance(value, list):
        for v in value:
            _xml(_ITEM.get(tag, "item"), v, el)
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    elif value is not None:
        el.text = _NOT_XML.sub("", str(value))
    return el


def render(path: str, data: Any, status: int = 200, root: str = "service_requests") -> Response:
    if path.endswith(".xml"):
        body = ET.tostring(_xml(root, data), encoding="unicode")
        return Response('<?xml version="1.0" encoding="utf-8"?>' + body, status_code=status,
                        media_type="text/xml; charset=utf-8")
    return JSONResponse(data, status_code=status)
