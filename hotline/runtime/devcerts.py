"""A development CA and the certificates for mTLS between the hotline and Temporal.

`scripts/dev-certs.sh [DIR]` (or `python -m hotline.runtime.devcerts [DIR]`) writes, into DIR
(default `var/certs`):
  ca.pem, ca.key            the CA (its key 0600, never mounted into a container)
  server.pem, server.key    the Temporal frontend (and its internode traffic): names `temporal`,
                            `localhost`, 127.0.0.1 (more with --server-name), server and client use
  hotline.pem, hotline.key  the worker, the gateway, the CLI, the health check
  ui.pem, ui.key            the Temporal Web UI's server
  admin.pem, admin.key      the admin tools (namespace creation, `temporal` CLI)
Files that exist are kept, so re-running is safe; --force makes a new set. These are for
development and trials: production certificates come from the deployment's own CA, with
short lifetimes, mounted as secrets.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENTS = ("hotline", "ui", "admin")
SERVER_NAMES = ("temporal", "localhost", "127.0.0.1")
DAYS = 365


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "12345 hotline (development)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)  # the mode from the first byte
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)  # whatever the umask
    os.replace(tmp, path)


def _issue(ca_key, ca_cert, cn: str, sans: list[x509.GeneralName], usages: list, now: datetime):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=DAYS))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                            data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def generate(out: Path, server_names: tuple[str, ...] = SERVER_NAMES, force: bool = False) -> list[Path]:
    """Write the CA and the certificates into `out`; returns the files written (none when a
    complete set is there already and not `force`)."""
    out.mkdir(parents=True, exist_ok=True)
    names = ["ca", "server", *CLIENTS]
    if not force and all((out / f"{n}.pem").exists() and (out / f"{n}.key").exists() for n in names):
        return []
    now = datetime.now(timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_cert = (x509.CertificateBuilder().subject_name(_name("12345 hotline development CA"))
               .issuer_name(_name("12345 hotline development CA")).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=DAYS))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, key_encipherment=False, content_commitment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    written = [out / "ca.key", out / "ca.pem"]
    _write(out / "ca.key", _key_pem(ca_key), 0o600)
    _write(out / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    issued = {"server": _issue(ca_key, ca_cert, "temporal", [_san(n) for n in server_names],
                               # internode traffic: each Temporal service is the other's client
                               [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], now)}
    issued["ui"] = _issue(ca_key, ca_cert, "temporal-ui", [], [ExtendedKeyUsageOID.CLIENT_AUTH], now)
    for cn in ("hotline", "admin"):
        issued[cn] = _issue(ca_key, ca_cert, f"{cn}-client", [], [ExtendedKeyUsageOID.CLIENT_AUTH], now)
    for name, (key, cert) in issued.items():
        # Leaf keys are mounted read-only into containers that run as their own users (the
        # Temporal and UI images), so they cannot be 0600 to this user: keep the directory
        # private on the host and mount each service only its own files.
        _write(out / f"{name}.key", _key_pem(key), 0o644)
        _write(out / f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM), 0o644)
        written += [out / f"{name}.key", out / f"{name}.pem"]
    return written


def main(argv: list[str] | None = None) -> int:
    from hotline.runtime.settings import VAR_DIR
    ap = argparse.ArgumentParser(prog="dev-certs", description="development CA and mTLS certificates for Temporal")
    ap.add_argument("out", nargs="?", default=str(VAR_DIR / "certs"), help="directory (default var/certs)")
    ap.add_argument("--server-name", action="append", default=[],
                    help="another name (or IP) of the Temporal frontend, e.g. temporal.internal")
    ap.add_argument("--force", action="store_true", help="replace an existing set")
    args = ap.parse_args(argv)
    out = Path(args.out)
    written = generate(out, tuple(dict.fromkeys((*SERVER_NAMES, *args.server_name))), force=args.force)
    if not written:
        print(f"{out}: certificates present, kept (--force makes a new set)")
    else:
        print(f"{out}: development CA and certificates written ({len(written)} files); valid {DAYS} days")
    return 0


if __name__ == "__main__":
    sys.exit(main())
