"""Certificates: reuse Office's dev certs, else create a local CA and a localhost cert."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import stat
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from addin.http_server import BackgroundServer
from addin.web.certs import (
    LEAF_VALIDITY,
    SOURCE_OFFICE,
    SOURCE_OWN,
    ServerCertificate,
    create_ca,
    ensure_server_certificate,
    issue_localhost_certificate,
    office_dev_certs_dir,
    own_certs_dir,
    trust_instructions,
)

NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)


def load(path: Path) -> x509.Certificate:
    """Load a PEM certificate."""
    return x509.load_pem_x509_certificate(path.read_bytes())


def make(tmp_path: Path, now: dt.datetime = NOW) -> ServerCertificate:
    """Run ensure_server_certificate with data and home under ``tmp_path``."""
    return ensure_server_certificate(data_dir=tmp_path / "data", home=tmp_path / "home", now=now)


def write_pem(path: Path, key: ec.EllipticCurvePrivateKey | None, cert: x509.Certificate) -> None:
    """Write a certificate, or a key when given, as PEM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if key is not None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    else:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def install_office_certs(home: Path, now: dt.datetime, *, mismatched_key: bool = False) -> None:
    """Create files like ``office-addin-dev-certs`` does, with our own functions."""
    ca_key, ca_cert = create_ca(now)
    key, cert = issue_localhost_certificate(ca_key, ca_cert, now)
    folder = office_dev_certs_dir(home)
    write_pem(folder / "ca.crt", None, ca_cert)
    write_pem(folder / "localhost.crt", None, cert)
    write_pem(folder / "localhost.key", ca_key if mismatched_key else key, cert)


def test_creates_ca_and_localhost_certificate(tmp_path: Path) -> None:
    made = make(tmp_path)
    assert made.source == SOURCE_OWN
    assert made.created_ca
    assert made.certfile.parent == own_certs_dir(tmp_path / "data")
    ca, leaf = load(made.ca_file), load(made.certfile)
    leaf.verify_directly_issued_by(ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    # Apple's limit is 825 days, clock skew included: stay a few days under it.
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert dt.timedelta(days=800) < lifetime <= dt.timedelta(days=821)
    assert leaf.not_valid_after_utc == NOW + LEAF_VALIDITY
    assert (
        ExtendedKeyUsageOID.SERVER_AUTH
        in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "FBCheck local CA"


def test_ca_is_name_constrained_to_loopback(tmp_path: Path) -> None:
    ca = load(make(tmp_path).ca_file)
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    permitted = constraints.value.permitted_subtrees or []
    assert x509.DNSName("localhost") in permitted
    assert x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")) in permitted


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_key_files_readable_by_owner_only(tmp_path: Path) -> None:
    made = make(tmp_path)
    for key in (made.keyfile, made.ca_file.with_name("ca.key")):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(made.certfile.parent.stat().st_mode) == 0o700


def test_reused_on_later_starts(tmp_path: Path) -> None:
    first = make(tmp_path)
    before = {p: p.read_bytes() for p in (first.certfile, first.keyfile, first.ca_file)}
    second = make(tmp_path, NOW + dt.timedelta(days=100))
    assert not second.created_ca
    assert {p: p.read_bytes() for p in before} == before


def test_leaf_renewed_before_expiry_with_the_same_ca(tmp_path: Path) -> None:
    first = make(tmp_path)
    ca_before = first.ca_file.read_bytes()
    leaf_before = first.certfile.read_bytes()
    later = NOW + LEAF_VALIDITY - dt.timedelta(days=5)
    second = make(tmp_path, later)
    assert not second.created_ca
    assert second.ca_file.read_bytes() == ca_before
    assert second.certfile.read_bytes() != leaf_before
    assert load(second.certfile).not_valid_after_utc > later + dt.timedelta(days=800)


def test_expired_ca_replaced(tmp_path: Path) -> None:
    first = make(tmp_path)
    ca_before = first.ca_file.read_bytes()
    second = make(tmp_path, NOW + dt.timedelta(days=11 * 365))
    assert second.created_ca
    assert second.ca_file.read_bytes() != ca_before
    load(second.certfile).verify_directly_issued_by(load(second.ca_file))


def test_corrupt_leaf_regenerated(tmp_path: Path) -> None:
    first = make(tmp_path)
    first.certfile.write_text("not a certificate")
    second = make(tmp_path)
    assert not second.created_ca
    load(second.certfile).verify_directly_issued_by(load(second.ca_file))


def test_leaf_of_another_ca_regenerated(tmp_path: Path) -> None:
    first = make(tmp_path)
    other_key, other_ca = create_ca(NOW)
    key, cert = issue_localhost_certificate(other_key, other_ca, NOW)
    write_pem(first.certfile, None, cert)
    write_pem(first.keyfile, key, cert)
    second = make(tmp_path)
    load(second.certfile).verify_directly_issued_by(load(second.ca_file))


def test_corrupt_ca_key_makes_a_new_ca(tmp_path: Path) -> None:
    first = make(tmp_path)
    first.ca_file.with_name("ca.key").write_text("garbage")
    assert make(tmp_path).created_ca


def test_office_dev_certs_used_when_valid(tmp_path: Path) -> None:
    install_office_certs(tmp_path / "home", NOW)
    made = make(tmp_path)
    folder = office_dev_certs_dir(tmp_path / "home")
    assert made == ServerCertificate(
        folder / "localhost.crt", folder / "localhost.key", folder / "ca.crt", SOURCE_OFFICE
    )
    assert not own_certs_dir(tmp_path / "data").exists()


def test_expired_office_dev_certs_skipped_with_a_note(tmp_path: Path) -> None:
    install_office_certs(tmp_path / "home", NOW - dt.timedelta(days=900))
    made = make(tmp_path)
    assert made.source == SOURCE_OWN
    assert "expired" in made.notes[0]
    assert "office-addin-dev-certs install" in made.notes[0]


def test_office_dev_certs_with_wrong_key_skipped(tmp_path: Path) -> None:
    install_office_certs(tmp_path / "home", NOW, mismatched_key=True)
    made = make(tmp_path)
    assert made.source == SOURCE_OWN
    assert "does not belong" in made.notes[0]


def test_unreadable_office_dev_certs_skipped(tmp_path: Path) -> None:
    install_office_certs(tmp_path / "home", NOW)
    (office_dev_certs_dir(tmp_path / "home") / "localhost.crt").write_text("junk")
    made = make(tmp_path)
    assert made.source == SOURCE_OWN
    assert "cannot be read" in made.notes[0]


def test_incomplete_office_dev_certs_ignored(tmp_path: Path) -> None:
    install_office_certs(tmp_path / "home", NOW)
    (office_dev_certs_dir(tmp_path / "home") / "ca.crt").unlink()
    made = make(tmp_path)
    assert made.source == SOURCE_OWN
    assert made.notes == ()


def test_trust_instructions_per_os(tmp_path: Path) -> None:
    ca = tmp_path / "my certs" / "ca.crt"
    windows = trust_instructions(ca, "Windows")
    assert f'certutil -addstore -user Root "{ca}"' in windows
    mac = trust_instructions(ca, "Darwin")
    assert "security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db" in mac
    assert f"'{ca}'" in mac  # quoted: the path has a space
    linux = trust_instructions(ca, "Linux")
    assert "certutil -d sql:$HOME/.pki/nssdb" in linux
    assert "update-ca-certificates" in linux
    for text in (windows, mac, linux):
        assert "Excel on the web" in text


def empty_app(environ, start_response):
    """A WSGI app that answers 200 with no body."""
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]


def handshake(server_port: int, ca_file: Path, server_hostname: str) -> None:
    """Complete a verified TLS handshake with a loopback server, or raise."""
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", server_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname),
    ):
        pass


def test_real_handshake_for_every_name(tmp_path: Path, certificate: ServerCertificate) -> None:
    with BackgroundServer(
        empty_app, port=0, certfile=certificate.certfile, keyfile=certificate.keyfile
    ) as server:
        for name in ("localhost", "127.0.0.1", "::1"):
            handshake(server.port, certificate.ca_file, name)


def test_name_constraint_enforced_by_tls_clients(tmp_path: Path) -> None:
    """Even a certificate the CA signs for another name is rejected by the client."""
    made = make(tmp_path)
    ca_key = serialization.load_pem_private_key(
        made.ca_file.with_name("ca.key").read_bytes(), password=None
    )
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    rogue = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank.example")]))
        .issuer_name(load(made.ca_file).subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("bank.example")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    write_pem(tmp_path / "rogue.crt", None, rogue)
    write_pem(tmp_path / "rogue.key", key, rogue)
    with BackgroundServer(
        empty_app, port=0, certfile=tmp_path / "rogue.crt", keyfile=tmp_path / "rogue.key"
    ) as server:
        refused = pytest.raises(
            ssl.SSLCertVerificationError, match=r"(?i)name constraint|permitted"
        )
        with refused:
            handshake(server.port, made.ca_file, "bank.example")
