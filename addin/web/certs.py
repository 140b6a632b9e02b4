"""TLS certificates for the local backend: reuse Office's dev certificates or make our own.

Office loads add-ins only over https, localhost included. When Microsoft's
``office-addin-dev-certs`` tool has already created and trusted
``~/.office-addin-dev-certs/{localhost.crt,localhost.key,ca.crt}``, those are
used. Otherwise a local certificate authority and a ``localhost`` certificate
are created under ``<data_dir>/certs/`` and reused on later starts; the CA is
name-constrained to localhost and loopback addresses, so even a stolen CA key
cannot vouch for any real site.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OFFICE_DEV_CERTS_DIRNAME = ".office-addin-dev-certs"
CA_NAME = "FBCheck local CA"
#: Apple refuses TLS server certificates valid for longer than 825 days
#: (support.apple.com/HT210176); with the hour of clock skew before "now",
#: 820 days stay a few days under that limit.
LEAF_VALIDITY = dt.timedelta(days=820)
CA_VALIDITY = dt.timedelta(days=10 * 365)
#: Renew a certificate this long before it expires, not on the day it breaks.
RENEW_BEFORE = dt.timedelta(days=30)
#: Backdate validity a little so a slightly slow clock does not reject it.
CLOCK_SKEW = dt.timedelta(hours=1)

SOURCE_OFFICE = "office-addin-dev-certs"
SOURCE_OWN = "fbcheck"


@dataclass(frozen=True)
class ServerCertificate:
    """Where the server's certificate, key and CA are, and how they came about."""

    certfile: Path
    keyfile: Path
    ca_file: Path
    #: SOURCE_OFFICE or SOURCE_OWN.
    source: str
    #: True when a new CA was created now: the user has to trust it once.
    created_ca: bool = False
    #: Sentences worth telling the user (why Office's dev certs were skipped...).
    notes: tuple[str, ...] = field(default_factory=tuple)


def office_dev_certs_dir(home: Path) -> Path:
    """Return the folder where ``office-addin-dev-certs`` keeps its files."""
    return home / OFFICE_DEV_CERTS_DIRNAME


def own_certs_dir(data_dir: Path) -> Path:
    """Return the folder holding FBCheck's own CA and localhost certificate."""
    return data_dir / "certs"


def ensure_server_certificate(
    *, data_dir: Path, home: Path, now: dt.datetime | None = None
) -> ServerCertificate:
    """Return a usable certificate for https://localhost, creating one if needed."""
    moment = now or dt.datetime.now(dt.UTC)
    notes: list[str] = []
    office_dir = office_dev_certs_dir(home)
    office = _office_dev_certificate(office_dir, moment, notes)
    if office is not None:
        return office
    return _own_certificate(own_certs_dir(data_dir), moment, tuple(notes))


def _office_dev_certificate(
    folder: Path, now: dt.datetime, notes: list[str]
) -> ServerCertificate | None:
    """Return Office's dev certificate when all its files exist and it is valid now."""
    certfile, keyfile, ca_file = (
        folder / "localhost.crt",
        folder / "localhost.key",
        folder / "ca.crt",
    )
    if not all(path.is_file() for path in (certfile, keyfile, ca_file)):
        return None
    try:
        cert = x509.load_pem_x509_certificate(certfile.read_bytes())
        key = serialization.load_pem_private_key(keyfile.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        notes.append(f"Skipped {folder}: its certificate or key cannot be read ({exc}).")
        return None
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
        notes.append(
            f"Skipped {folder}: its certificate expired on "
            f"{cert.not_valid_after_utc:%Y-%m-%d} (renew it with "
            "`npx office-addin-dev-certs install`)."
        )
        return None
    if not _same_public_key(cert, key):
        notes.append(f"Skipped {folder}: localhost.key does not belong to localhost.crt.")
        return None
    return ServerCertificate(certfile, keyfile, ca_file, SOURCE_OFFICE)


def _own_certificate(folder: Path, now: dt.datetime, notes: tuple[str, ...]) -> ServerCertificate:
    """Return FBCheck's own certificate, creating the CA and/or leaf as needed."""
    ca_file, ca_keyfile = folder / "ca.crt", folder / "ca.key"
    certfile, keyfile = folder / "localhost.crt", folder / "localhost.key"
    folder.mkdir(parents=True, exist_ok=True)
    _restrict(folder, 0o700)

    ca = _load_valid_ca(ca_file, ca_keyfile, now)
    created_ca = ca is None
    if ca is None:
        ca = create_ca(now)
        _write_private(ca_keyfile, _key_pem(ca[0]))
        _write_public(ca_file, ca[1].public_bytes(serialization.Encoding.PEM))
    ca_key, ca_cert = ca

    if created_ca or not _leaf_is_usable(certfile, keyfile, ca_cert, now):
        leaf_key, leaf_cert = issue_localhost_certificate(ca_key, ca_cert, now)
        _write_private(keyfile, _key_pem(leaf_key))
        _write_public(certfile, leaf_cert.public_bytes(serialization.Encoding.PEM))
    return ServerCertificate(certfile, keyfile, ca_file, SOURCE_OWN, created_ca, notes)


def create_ca(now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """Return a new CA key and self-signed certificate limited to loopback names."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "FBCheck (this computer only)"),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.NameConstraints(
                permitted_subtrees=[
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")),
                    x509.IPAddress(ipaddress.ip_network("::1/128")),
                ],
                excluded_subtrees=None,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_localhost_certificate(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, now: dt.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """Return a new key and a CA-signed server certificate for localhost, 127.0.0.1 and ::1."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(min(now + LEAF_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def trust_instructions(ca_file: Path, system: str) -> str:
    """Return how to trust ``ca_file`` on ``system`` (``platform.system()`` values)."""
    web = (
        "Excel on the web runs in your browser and uses the browser's trust store: "
        "Edge, Chrome and Safari use the system store above; Firefox has its own "
        "(Settings > Privacy & Security > Certificates > View Certificates > Authorities "
        "> Import, tick 'Trust this CA to identify websites'). Restart the browser afterwards."
    )
    if system == "Windows":
        steps = (
            "Trust the FBCheck local CA for your Windows user (confirm the security prompt),\n"
            "then restart Excel:\n"
            f'    certutil -addstore -user Root "{ca_file}"'
        )
    elif system == "Darwin":
        steps = (
            "Trust the FBCheck local CA in your login keychain (macOS asks for your password),\n"
            "then restart Excel:\n"
            "    security add-trusted-cert -r trustRoot "
            f"-k ~/Library/Keychains/login.keychain-db {shlex.quote(str(ca_file))}"
        )
    else:
        quoted = shlex.quote(str(ca_file))
        steps = (
            "Trust the FBCheck local CA for Chrome, Chromium and Edge (NSS database;\n"
            "`certutil` comes with libnss3-tools):\n"
            '    certutil -d sql:$HOME/.pki/nssdb -A -t "C,," '
            f'-n "{CA_NAME}" -i {quoted}\n'
            "and, for command-line tools (curl, Python), system-wide:\n"
            f"    sudo cp {quoted} /usr/local/share/ca-certificates/fbcheck-local-ca.crt\n"
            "    sudo update-ca-certificates"
        )
    return f"{steps}\n{web}"


def _load_valid_ca(
    certfile: Path, keyfile: Path, now: dt.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    """Return the stored CA when both files load, match and stay valid a while."""
    if not (certfile.is_file() and keyfile.is_file()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(certfile.read_bytes())
        key = serialization.load_pem_private_key(keyfile.read_bytes(), password=None)
    except (ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _same_public_key(cert, key):
        return None
    if not _valid_for_a_while(cert, now):
        return None
    return key, cert


def _leaf_is_usable(
    certfile: Path, keyfile: Path, ca_cert: x509.Certificate, now: dt.datetime
) -> bool:
    """Return True when the stored leaf is signed by ``ca_cert``, matches its key and is fresh."""
    if not (certfile.is_file() and keyfile.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(certfile.read_bytes())
        key = serialization.load_pem_private_key(keyfile.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return _same_public_key(cert, key) and _valid_for_a_while(cert, now)


def _valid_for_a_while(cert: x509.Certificate, now: dt.datetime) -> bool:
    """Return True when ``cert`` is valid now and not within RENEW_BEFORE of expiry."""
    return cert.not_valid_before_utc <= now and now + RENEW_BEFORE < cert.not_valid_after_utc


def _same_public_key(cert: x509.Certificate, key: object) -> bool:
    """Return True when ``key`` is the private key of ``cert``."""
    public_key = getattr(key, "public_key", None)
    if public_key is None:
        return False
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    ours: bytes = public_key().public_bytes(serialization.Encoding.PEM, fmt)
    return ours == cert.public_key().public_bytes(serialization.Encoding.PEM, fmt)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Return ``key`` as unencrypted PKCS#8 PEM (the server starts unattended)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a key file readable by the owner only, replacing any old one atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    _restrict(tmp, 0o600)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    """Write a certificate file, replacing any old one atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _restrict(path: Path, mode: int) -> None:
    """Set POSIX permissions (a no-op beyond read-only on Windows)."""
    os.chmod(path, mode)
