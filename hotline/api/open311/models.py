"""GeoReport v2 data (the field lists of the spec) and the service list derived from the catalogue.

Services: one per responsibility matter of each unit that can own an order (`<UNIT>-<nn>`,
numbered in catalogue order, grouped by the unit's name), plus `GENERAL` for anything else.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from hotline.domain.codes import DISTRICTS, District


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    group: str


class AttributeValue(BaseModel):
    key: str
    name: str


class Attribute(BaseModel):
    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str | None
    order: int
    description: str
    values: list[AttributeValue]


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[Attribute]


class Endpoint(BaseModel):
    specification: str
    url: str
    changeset: str
    type: Literal["production", "test"]
    formats: list[str]


class Discovery(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class ServiceRequest(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str
    service_notice: str | None
    requested_datetime: str | None
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class CreatedRequest(BaseModel):
    service_request_id: str
    service_notice: str
    account_id: str | None = None


def _attr(alias: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(alias), serialization_alias=alias)


class PostForm(BaseModel):
    """The fields of POST requests (form-encoded); api_key may also come as the X-API-Key header."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    api_key: str | None = Field(default=None, max_length=200)
    jurisdiction_id: str | None = Field(default=None, max_length=64)
    service_code: str = Field(min_length=1, max_length=32)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str | None = Field(default=None, max_length=256)
    address_id: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=128)
    device_id: str | None = Field(default=None, max_length=128)
    account_id: str | None = Field(default=None, max_length=128)
    first_name: str | None = Field(default=None, max_length=32)
    last_name: str | None = Field(default=None, max_length=32)
    phone: str | None = Field(default=None, max_length=20)
    description: str = Field(min_length=1, max_length=4000)
    media_url: str | None = Field(default=None, max_length=1024)
    category: Literal["consultation", "help", "complaint", "report", "suggestion"] | None = _attr("attribute[category]")
    district: District | None = _attr("attribute[district]")


CATEGORY_NAMES = {"consultation": "咨询", "help": "求助", "complaint": "投诉", "report": "举报", "suggestion": "建议"}


@dataclass(frozen=True)
class _Svc:
    service_code: str
    service_name: str
    description: str
    group: str
    keywords: str
    unit: str | None  # the unit whose responsibility list the service comes from
    categories: tuple[str, ...]

    def public(self) -> Service:
        return Service(service_code=self.service_code, service_name=self.service_name, description=self.description,
                       metadata=True, type="realtime", keywords=self.keywords, group=self.group)

    def definition(self, districts: list[AttributeValue]) -> ServiceDefinition:
        cats = [AttributeValue(key=c, name=f"{CATEGORY_NAMES[c]} {c}") for c in self.categories]
        return ServiceDefinition(service_code=self.service_code, attributes=[
            Attribute(variable=True, code="category", datatype="singlevaluelist", required=False, order=1,
                      datatype_description=f"default {self.categories[0]}", description="诉求类型 request type",
                      values=cats),
            Attribute(variable=True, code="district", datatype="singlevaluelist", required=False, order=2,
                      datatype_description=None, description="所在区 district of the place", values=districts)])


_CACHE: dict[int, tuple[Any, dict]] = {}


def services_of(cat) -> dict[str, Any]:
    """The service list of a catalogue, with the indexes to find an order's service (cached)."""
    hit = _CACHE.get(id(cat))
    if hit is not None and hit[0] is cat:
        return hit[1]
    all_: dict[str, _Svc] = {}
    by_matter: dict[tuple[str, str], _Svc] = {}
    for u in cat.owners():
        for i, e in enumerate(u.responsibilities, 1):
            svc = _Svc(f"{u.code}-{i:02d}", e.matter, e.matter + (f"（依据：{e.basis}）" if e.basis else ""),
                       u.name, ",".join(e.keywords), u.code, tuple(str(getattr(c, "value", c)) for c in e.categories))
            all_[svc.service_code] = by_matter[(u.code, e.matter)] = svc
    all_["GENERAL"] = _Svc("GENERAL", "其他诉求", "其他咨询、求助、投诉、举报、建议：按权责清单和属地原则派单",
                           "综合", "其他", None, ("complaint", "consultation", "help", "report", "suggestion"))
    districts = [AttributeValue(key=d, name=(cat.district_government(d).name if cat.district_government(d) else d))
                 for d in DISTRICTS]
    out = {"all": all_, "by_matter": by_matter, "by_name": {s.service_name: s for s in all_.values() if s.unit},
           "districts": districts}
    _CACHE.clear()
    _CACHE[id(cat)] = (cat, out)
    return out
