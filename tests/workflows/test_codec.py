"""Payload encryption (workflows/codec.py), its key ring (hotline/runtime/keyring.py) and the gateway's
codec server (/codec/*): sealing, rotation, refusal of bad keys and bad callers."""
from __future__ import annotations

import base64
import os
import stat

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from hotline.api.app import create_app
from hotline.runtime import keyring
from hotline.runtime.settings import SettingsError, load_codec_keys
from hotline.store.apikeys import create_key, revoke_key
from tests.api.test_api import api_client, assert_error
from tests.harness import router
from workflows.codec import ENCODING, KEY_ID, CodecError, EncryptionCodec, data_converter

PHONE, NAME = "13800001234", "王小明"


async def _plain(value) -> Payload:
    return (await pydantic_data_converter.encode([value]))[0]


# ---------------------------------------------------------------- the codec


async def test_sealed_payload_names_its_key_and_hides_the_petitioner():
    ring = keyring.generate("k1")
    codec = EncryptionCodec(ring)
    plain = await _plain({"name": NAME, "phone": PHONE})
    [sealed] = await codec.encode([plain])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k1"
    assert PHONE.encode() not in sealed.data and NAME.encode() not in sealed.data
    assert (await codec.decode([sealed])) == [plain]
    # two seals of the same payload differ (a fresh nonce each time)
    assert (await codec.encode([plain]))[0].data != sealed.data


async def test_the_whole_converter_round_trips_and_passes_old_unencrypted_payloads_through():
    conv = data_converter(keyring.generate())
    value = {"petitioner": {"name": NAME, "phone": PHONE}}
    [sealed] = await conv.encode([value])
    assert PHONE.encode() not in sealed.data
    assert await conv.decode([sealed], [dict]) == [value]
    old = await pydantic_data_converter.encode([value])  # written before encryption
    assert await conv.decode(old, [dict]) == [value]


async def test_rotation_old_keys_still_open_the_newest_seals():
    old = keyring.generate("2026a")
    new = old.rotated("2027a")
    assert new.current[0] == "2027a" and new.ids == ["2026a", "2027a"]
    plain = await _plain(PHONE)
    [by_old] = await EncryptionCodec(old).encode([plain])
    [by_new] = await EncryptionCodec(new).encode([plain])
    assert by_new.metadata[KEY_ID] == b"2027a"
    assert await EncryptionCodec(new).decode([by_old, by_new]) == [plain, plain]
    with pytest.raises(CodecError, match="2027a.*not in the key ring"):
        await EncryptionCodec(old).decode([by_new])


async def test_tampered_or_relabelled_payloads_are_refused():
    ring = keyring.generate("a").rotated("b")
    codec = EncryptionCodec(ring)
    [sealed] = await codec.encode([await _plain(PHONE)])
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(CodecError, match="does not authenticate"):
        await codec.decode([flipped])
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"a"}, data=sealed.data)
    with pytest.raises(CodecError, match="does not authenticate"):  # the key id is associated data
        await codec.decode([relabelled])


# ---------------------------------------------------------------- the key ring


def test_key_ring_from_the_variable_or_a_file_newest_last(tmp_path):
    a, b = keyring.new_key("a"), keyring.new_key("b")
    line = ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in (a, b))
    ring = load_codec_keys({keyring.ENV_KEYS: line})
    assert ring.current == b and ring.get("a") == a[1]
    f = tmp_path / "keys"
    f.write_text(keyring.KeyRing((a, b)).dump(), encoding="utf-8")
    assert load_codec_keys({keyring.ENV_FILE: str(f)}).keys == ring.keys


@pytest.mark.parametrize("value, words", [
    ("k1", "expected <key id>:<base64 key>"),
    ("k1:!!!", "not base64"),
    ("k1:" + base64.b64encode(b"short").decode(), "has 5 bytes, expected 32"),
    ("bad id:" + base64.b64encode(bytes(32)).decode(), "expected <key id>"),
    ("k:" + base64.b64encode(bytes(32)).decode() + ",k:" + base64.b64encode(bytes(32)).decode(), "twice"),
    (" , ", "no key"),
])
def test_malformed_key_ring_is_one_clear_line(value, words):
    with pytest.raises(SettingsError, match=words) as e:
        load_codec_keys({keyring.ENV_KEYS: value})
    assert "\n" not in str(e.value) and keyring.ENV_KEYS in str(e.value)


def test_missing_key_ring_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.setattr("hotline.runtime.settings.VAR_DIR", tmp_path)
    with pytest.raises(SettingsError, match="HOTLINE_CODEC_KEYS or HOTLINE_CODEC_KEYS_FILE"):
        load_codec_keys({})
    with pytest.raises(SettingsError, match="no such file"):
        load_codec_keys({keyring.ENV_FILE: str(tmp_path / "nope")})


def test_development_key_ring_is_created_once_and_private(tmp_path):
    path = keyring.ensure_dev_keyring({}, tmp_path)
    assert path == tmp_path / "codec-keys"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = keyring.load({}, tmp_path)
    assert keyring.ensure_dev_keyring({}, tmp_path) is None  # never replaced: old orders need it
    assert keyring.load({}, tmp_path).keys == first.keys
    # a configured ring is never shadowed by a generated one
    assert keyring.ensure_dev_keyring({keyring.ENV_KEYS: "x"}, tmp_path / "other") is None
    assert not (tmp_path / "other").exists()


# ---------------------------------------------------------------- the codec server

UI = "http://localhost:8233"


@pytest.fixture
def codec_app(sqlite_db):
    ring = keyring.generate("k1")
    keys = {r.split(":")[-1]: create_key(sqlite_db, r, label="t") for r in ("admin", "intake", "department:ZJJ")}
    app = create_app(sqlite_db, None, router(), codec=EncryptionCodec(ring), ui_origins=(UI,))
    return app, keys, ring, sqlite_db


def _wire(payloads: list[Payload]) -> dict:
    return {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                          "data": base64.b64encode(p.data).decode()} for p in payloads]}


def _unwire(body: dict) -> list[Payload]:
    return [Payload(metadata={k: base64.b64decode(v) for k, v in p.get("metadata", {}).items()},
                    data=base64.b64decode(p.get("data", ""))) for p in body["payloads"]]


async def test_codec_server_decodes_and_encodes_for_an_admin(codec_app):
    app, keys, ring, _ = codec_app
    plain = await _plain({"name": NAME, "phone": PHONE})
    async with api_client(app) as c:
        r = await c.post("/codec/encode", json=_wire([plain]), headers={"X-API-Key": keys["admin"]})
        assert r.status_code == 200, r.text
        [sealed] = _unwire(r.json())
        assert sealed.metadata["encoding"] == ENCODING and PHONE.encode() not in sealed.data
        r = await c.post("/codec/decode", json=r.json(), headers={"Authorization": f"Bearer {keys['admin']}",
                                                                   "Origin": UI, "X-Namespace": "default"})
        assert r.status_code == 200 and _unwire(r.json()) == [plain]
        assert r.headers["access-control-allow-origin"] == UI
        assert r.headers["access-control-allow-credentials"] == "true"
        assert (await c.post("/codec/decode", json={"payloads": []},
                             headers={"X-API-Key": keys["admin"]})).json() == {"payloads": []}


async def test_codec_server_refuses_everyone_but_admins(codec_app):
    app, keys, ring, db = codec_app
    [sealed] = await EncryptionCodec(ring).encode([await _plain(PHONE)])
    async with api_client(app) as c:
        assert_error(await c.post("/codec/decode", json=_wire([sealed])), 401, "/codec/login")
        for who in ("intake", "ZJJ"):
            assert_error(await c.post("/codec/decode", json=_wire([sealed]), headers={"X-API-Key": keys[who]}),
                         403, "needs admin")
        assert_error(await c.post("/codec/decode", json=_wire([sealed]), headers={"X-API-Key": "hk_nope"}), 401)
        r = await c.post("/codec/decode", json=_wire([sealed]),
                         headers={"X-API-Key": keys["admin"], "Origin": "https://evil.example"})
        assert_error(r, 403, "origin")
        assert "access-control-allow-origin" not in r.headers
        revoke_key(db, keys["admin"])
        assert_error(await c.post("/codec/decode", json=_wire([sealed]), headers={"X-API-Key": keys["admin"]}), 401)


async def test_codec_server_bad_bodies_are_clear_errors(codec_app):
    app, keys, _, _ = codec_app
    other = EncryptionCodec(keyring.generate("elsewhere"))
    [foreign] = await other.encode([await _plain(PHONE)])
    async with api_client(app) as c:
        h = {"X-API-Key": keys["admin"], "Content-Type": "application/json"}
        assert_error(await c.post("/codec/decode", content=b"{not json", headers=h), 400, "payloads")
        assert_error(await c.post("/codec/decode", content=b'{"payloads": [{"data": 5}]}', headers=h), 400)
        assert_error(await c.post("/codec/decode", json=_wire([foreign]), headers=h), 422, "elsewhere")


async def test_cors_preflight_answers_only_the_ui_origin(codec_app):
    app, *_ = codec_app
    async with api_client(app) as c:
        req = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"}
        r = await c.options("/codec/decode", headers={"Origin": UI, **req})
        assert r.status_code == 204 and r.headers["access-control-allow-origin"] == UI
        assert "X-Namespace" in r.headers["access-control-allow-headers"]
        r = await c.options("/codec/decode", headers={"Origin": "https://evil.example", **req})
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


async def test_admin_signs_in_once_and_the_cookie_opens_the_codec(codec_app):
    app, keys, ring, _ = codec_app
    [sealed] = await EncryptionCodec(ring).encode([await _plain(PHONE)])
    async with api_client(app) as c:
        page = await c.get("/codec/login")
        assert page.status_code == 200 and "管理员" in page.text
        r = await c.post("/codec/login", data={"key": keys["ZJJ"]})
        assert r.status_code == 401 and "hotline_codec" not in r.headers.get("set-cookie", "")
        r = await c.post("/codec/login", data={"key": keys["admin"]})
        assert r.status_code == 200 and "已登录" in r.text
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/codec" in cookie
        r = await c.post("/codec/decode", json=_wire([sealed]), headers={"Origin": UI})
        assert r.status_code == 200 and PHONE.encode() in _unwire(r.json())[0].data
        await c.post("/codec/logout")
        assert (await c.post("/codec/decode", json=_wire([sealed]))).status_code == 401


async def test_codec_server_without_a_codec_is_unavailable_not_an_error(sqlite_db):
    key = create_key(sqlite_db, "admin", label="t")
    async with api_client(create_app(sqlite_db, None, router())) as c:
        assert_error(await c.post("/codec/decode", json={"payloads": []}, headers={"X-API-Key": key}),
                     503, "not configured")
