"""The bed's TLS material: a CA and a server certificate for the recorder's address,
written as PEM files (``ca.pem``, ``server.pem``, ``server.key``) into a directory every
host reads (the bed's own, on the one file system the namespaces share)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ServerPki:
    ca: Path  # what a client trusts (``http.tls.ca``)
    cert: Path
    key: Path

    @classmethod
    def at(cls, folder: Path) -> "ServerPki":
        return cls(folder / "ca.pem", folder / "server.pem", folder / "server.key")


def make_server_pki(folder: Path, ip: str) -> ServerPki:
    """A CA and a server certificate it signed for ``ip`` (its subjectAltName), valid a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def issue(cn: str, signer: Any, issuer: Any, extensions: list) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        for ext in extensions:
            builder = builder.add_extension(ext, critical=isinstance(ext, x509.BasicConstraints))
        return key, builder.sign(signer or key, hashes.SHA256())

    ca_key, ca_cert = issue("loadray bed CA", None, None, [x509.BasicConstraints(ca=True, path_length=None)])
    key, cert = issue(ip, ca_key, ca_cert.subject, [
        x509.BasicConstraints(ca=False, path_length=None),
        x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
    ])
    pki = ServerPki.at(folder)
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    pki.key.chmod(0o600)
    return pki


def server_context(pki: ServerPki):
    """The recorder's TLS context: ALPN ``h2`` or ``http/1.1`` (the connection is sniffed
    after the handshake either way)."""
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.cert, pki.key)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx
