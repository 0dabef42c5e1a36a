"""Open311 GeoReport v2 (SPEC §8): the field lists of the spec, a POST that makes a real work
order, statuses open/closed, and never the petitioner's name or phone in any response."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from hotline.api.app import create_app
from hotline.domain.models import Channel, OrderState
from tests.api.test_api import H, api_client, live_api, prepare
from tests.harness import router

BASE = "/open311/v2"
SERVICE = {"service_code": str, "service_name": str, "description": str, "metadata": bool, "type": str,
           "keywords": str, "group": str}
ATTRIBUTE = {"variable": bool, "code": str, "datatype": str, "required": bool, "order": int, "description": str,
             "values": list, "datatype_description": (str, type(None))}
REQUEST = {"service_request_id": str, "status": str, "status_notes": (str, type(None)), "service_name": str,
           "service_code": str, "description": (str, type(None)), "agency_responsible": str,
           "service_notice": (str, type(None)), "requested_datetime": str, "updated_datetime": str,
           "expected_datetime": (str, type(None)), "address": (str, type(None)), "address_id": (str, type(None)),
           "zipcode": (str, type(None)), "lat": (float, type(None)), "long": (float, type(None)),
           "media_url": (str, type(None))}
NAME, PHONE, OTHER_PHONE = "李雷", "13912345678", "0898-88881234"
POST = {"service_code": "SWJ-01",
        "description": f"我是{NAME}，电话{PHONE}，小区停水两天了，物业电话{OTHER_PHONE}也打不通",
        "lat": "18.25", "long": "109.51", "address_string": "吉阳区迎宾路", "first_name": "雷", "last_name": "李",
        "phone": PHONE, "email": "lilei@example.com", "attribute[district]": "JYQ", "attribute[category]": "help"}


def fields_ok(obj: dict, spec: dict) -> None:
    assert set(spec) <= set(obj), set(spec) - set(obj)
    for k, t in spec.items():
        assert isinstance(obj[k], t), (k, obj[k])


def iso(s: str) -> datetime:
    dt = datetime.fromisoformat(s)
    assert dt.tzinfo is not None, s
    return dt


def no_petitioner(text: str) -> None:
    for secret in (NAME, PHONE, OTHER_PHONE, "88881234", "lilei@example.com"):
        assert secret not in text, secret


@pytest.fixture
def offline(sqlite_db):
    keys = prepare(sqlite_db)
    return create_app(sqlite_db, None, router()), keys


async def test_discovery_services_and_definitions(offline):
    app, _ = offline
    async with api_client(app) as c:
        d = (await c.get(f"{BASE}/discovery.json")).json()
        assert {"changeset", "contact", "key_service", "endpoints"} <= set(d)
        ep = d["endpoints"][0]
        assert ep["specification"] == "http://wiki.open311.org/GeoReport_v2" and ep["url"].endswith("/open311/v2")
        assert ep["type"] in ("production", "test") and {"application/json", "text/xml"} <= set(ep["formats"])

        services = (await c.get(f"{BASE}/services.json", params={"jurisdiction_id": "sanya.gov.cn"})).json()
        assert len(services) > 50
        for s in services:
            fields_ok(s, SERVICE)
            assert s["type"] in ("realtime", "batch", "blackbox")
        codes = [s["service_code"] for s in services]
        assert len(codes) == len(set(codes)) and "GENERAL" in codes and "SWJ-01" in codes
        assert not any(c.startswith("HOTLINE") for c in codes)  # the hotline office never owns an order
        swj = next(s for s in services if s["service_code"] == "SWJ-01")
        assert "供水" in swj["service_name"] and swj["group"] == "三亚市水务局"

        defn = (await c.get(f"{BASE}/services/SWJ-01.json")).json()
        assert defn["service_code"] == "SWJ-01"
        for a in defn["attributes"]:
            fields_ok(a, ATTRIBUTE)
            assert a["datatype"] in ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
            assert all(set(v) == {"key", "name"} for v in a["values"])
        assert {a["code"] for a in defn["attributes"]} == {"category", "district"}

        root = ET.fromstring((await c.get(f"{BASE}/services.xml")).text)
        assert root.tag == "services" and root[0].tag == "service" and root[0].find("service_code") is not None
        root = ET.fromstring((await c.get(f"{BASE}/services/SWJ-01.xml")).text)
        assert root.tag == "service_definition" and root.find("attributes/attribute/values/value/key") is not None
        assert ET.fromstring((await c.get(f"{BASE}/discovery.xml")).text).find("endpoints/endpoint/url") is not None


@pytest.mark.parametrize("path,status", [
    ("/services/NOPE-99.json", 404), ("/services.json?jurisdiction_id=haikou.gov.cn", 404),
    ("/requests/SY20260101000009.json", 404), ("/requests/whatever.json", 404),
    ("/requests.json?status=pending", 400), ("/requests.json?start_date=yesterday", 400),
    ("/services.txt", 400), ("/nothing.json", 404),
])
async def test_errors_take_the_open311_shape(offline, path, status):
    app, _ = offline
    async with api_client(app) as c:
        r = await c.get(BASE + path)
        assert r.status_code == status, r.text
        body = r.json()
        assert isinstance(body, list) and set(body[0]) == {"code", "description"} and body[0]["code"] == status
        r = await c.get(BASE + path.replace(".json", ".xml"))
        if path.endswith(".json") or ".json?" in path:
            root = ET.fromstring(r.text)
            assert root.tag == "errors" and root.find("error/code").text == str(r.status_code)


async def test_post_rules(offline):
    app, keys = offline
    async with api_client(app) as c:
        async def post(data, key=keys["intake"], fmt="json"):
            return await c.post(f"{BASE}/requests.{fmt}", data={**data, **({"api_key": key} if key else {})})

        async def err(r, status, word):
            assert r.status_code == status, r.text
            assert word in r.json()[0]["description"], r.json()

        await err(await post(POST, key=None), 401, "api_key")
        await err(await post(POST, key="hk_bogus"), 401, "API key")
        await err(await post(POST, key=keys["ZJJ"]), 403, "intake")
        await err(await post({k: v for k, v in POST.items() if k != "service_code"}), 400, "service_code")
        await err(await post({**POST, "service_code": "NOPE-1"}), 404, "service_code")
        await err(await post({k: v for k, v in POST.items() if k not in ("lat", "long", "address_string")}),
                  400, "location")
        await err(await post({**POST, "lat": "95"}), 400, "lat")
        await err(await post({k: v for k, v in POST.items() if k != "phone"}), 400, "phone")
        await err(await post({**POST, "phone": "not a phone"}), 400, "phone")
        await err(await post({**POST, "attribute[category]": "gossip"}), 400, "category")
        await err(await post({**POST, "jurisdiction_id": "haikou.gov.cn"}), 404, "jurisdiction_id")
        r = await c.post(f"{BASE}/requests.json", content=b"\x00\xff", headers={"X-API-Key": keys["intake"]})
        assert r.status_code == 400 and isinstance(r.json(), list)


async def test_post_creates_a_real_work_order_and_reads_back_without_the_petitioner(ts_env, any_db):
    keys = prepare(any_db)
    async with live_api(ts_env.client, any_db) as (c, h):
        r = await c.post(f"{BASE}/requests.json", data={**POST, "api_key": keys["intake"]})
        assert r.status_code == 201, r.text
        [created] = r.json()
        fields_ok(created, {"service_request_id": str, "service_notice": str})
        assert "account_id" in created
        no = created["service_request_id"]
        no_petitioner(r.text)

        # a real workflow, started through the same intake as every other channel
        st = await ts_env.client.get_workflow_handle(f"order-{no}").query("state", result_type=OrderState)
        assert st.channel == Channel.open311 and st.petitioner.phone == PHONE and st.owner == "SWJ"
        assert st.location.lat == 18.25 and st.location.district == "JYQ" and st.category.value == "help"
        assert PHONE not in st.title and NAME not in st.title

        # with the header key and XML, a general request (routing decides)
        r = await c.post(f"{BASE}/requests.xml", headers={"X-API-Key": keys["admin"]},
                         data={**POST, "service_code": "GENERAL", "description": f"{NAME}反映：路边的井盖丢了 {PHONE}"})
        assert r.status_code == 201, r.text
        root = ET.fromstring(r.text)
        assert root.tag == "service_requests" and root.find("request/service_request_id").text.startswith("SY")
        general = root.find("request/service_request_id").text
        no_petitioner(r.text)

        [item] = (await c.get(f"{BASE}/requests/{no}.json")).json()
        fields_ok(item, REQUEST)
        assert item["service_request_id"] == no and item["status"] == "open"
        assert item["service_code"] == "SWJ-01" and item["agency_responsible"] == "三亚市水务局"
        assert item["lat"] == 18.25 and item["long"] == 109.51 and "dispatched" in item["status_notes"]
        assert iso(item["expected_datetime"]) > iso(item["requested_datetime"])
        assert "停水" in item["description"]

        # the owner works the order over the API; Open311 then reports it closed with the reply
        for action, who, body in [("sign", "SWJ", {}), ("contact", "SWJ", {"note": f"已联系{NAME}"}),
                                  ("reply", "SWJ", {"result": f"已恢复供水，已回电{PHONE}", "resolved": True}),
                                  ("callback", "admin", {"answered": True, "resolved": True,
                                                         "satisfaction": "satisfied"})]:
            assert (await c.post(f"/api/v1/orders/{no}/{action}", headers=H(keys[who]), json=body)).status_code == 200
        [item] = (await c.get(f"{BASE}/requests/{no}.json")).json()
        assert item["status"] == "closed" and "已恢复供水" in item["status_notes"]
        assert item["expected_datetime"] is None

        everything = []
        for path, params in [("/requests.json", {}), ("/requests.json", {"status": "open"}),
                             ("/requests.json", {"status": "closed"}), ("/requests.json", {"service_code": "SWJ-01"}),
                             ("/requests.json", {"service_request_id": f"{no},{general}"}),
                             ("/requests.xml", {}), (f"/requests/{general}.json", {})]:
            r = await c.get(BASE + path, params=params)
            assert r.status_code == 200, r.text
            everything.append(r.text)
            no_petitioner(r.text)

        def ids(text: str) -> list[str]:
            return [i["service_request_id"] for i in json.loads(text)]
        assert set(ids(everything[0])) == {no, general}
        assert ids(everything[1]) == [general] and ids(everything[2]) == [no] and ids(everything[3]) == [no]
        assert set(ids(everything[4])) == {no, general}
        for item in json.loads(everything[0]):
            fields_ok(item, REQUEST)
        future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
        r = await c.get(f"{BASE}/requests.json", params={"start_date": future})
        assert r.status_code == 200 and r.json() == []
