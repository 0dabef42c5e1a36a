"""Mutual TLS from the worker, the gateway and the CLI to the Temporal frontend.

Why: without it anyone who reaches the frontend port can start, signal or update any order
(issue 13, finding 4). With the frontend requiring client certificates (docker-compose.yml),
only holders of a certificate signed by the deployment's CA get in; payloads stay sealed by the
codec either way.

Settings (all paths to PEM files):
  HOTLINE_TEMPORAL_TLS_CA           the CA that signed the frontend's certificate (unset: the
                                    system's trust store)
  HOTLINE_TEMPORAL_TLS_CERT / _KEY  this client's certificate and private key (both or neither)
  HOTLINE_TEMPORAL_TLS_SERVER_NAME  the name to expect in the frontend's certificate, when the
                                    address is not that name (e.g. an IP address)
Any of them set turns TLS on. `scripts/dev-certs.sh` makes a development CA and certificates.
"""
from __future__ import annotations

import os
from pathlib import Path

from temporalio.service import TLSConfig

from hotline.runtime.settings import SettingsError

CA, CERT, KEY, SERVER_NAME = ("HOTLINE_TEMPORAL_TLS_CA", "HOTLINE_TEMPORAL_TLS_CERT", "HOTLINE_TEMPORAL_TLS_KEY",
                              "HOTLINE_TEMPORAL_TLS_SERVER_NAME")
_MARKERS = {CA: b"-----BEGIN CERTIFICATE-----", CERT: b"-----BEGIN CERTIFICATE-----", KEY: b"PRIVATE KEY-----"}


def _pem(env: dict, name: str) -> bytes | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    path = Path(raw)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SettingsError(f"{name}={raw}: no such file") from None
    except IsADirectoryError:
        raise SettingsError(f"{name}={raw}: is a directory, expected a PEM file") from None
    except OSError as exc:
        raise SettingsError(f"{name}={raw}: cannot read ({exc.strerror})") from None
    if _MARKERS[name] not in data:
        what = "a private key" if name == KEY else "a certificate"
        raise SettingsError(f"{name}={raw}: not {what} in PEM form")
    return data


def load_tls(env: dict | None = None) -> TLSConfig | None:
    """The client's TLS configuration for Temporal, or None when no TLS setting is given."""
    env = dict(os.environ if env is None else env)
    ca, cert, key = _pem(env, CA), _pem(env, CERT), _pem(env, KEY)
    if (cert is None) != (key is None):
        given, missing = (CERT, KEY) if cert is not None else (KEY, CERT)
        raise SettingsError(f"{given} is set but {missing} is not: a client certificate needs its key")
    server_name = (env.get(SERVER_NAME) or "").strip() or None
    if ca is None and cert is None and server_name is None:
        return None
    return TLSConfig(server_root_ca_cert=ca, client_cert=cert, client_private_key=key, domain=server_name)
