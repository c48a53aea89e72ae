"""What outbound HTTP meets, stood in for in-process: the system resolver's answers for
some names (`Names`), and an HTTPS server with a self-signed certificate for a host name."""

from __future__ import annotations

import datetime
import socket
import ssl
from collections import Counter

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devtools.receiver import Receiver


class Names:
    """The system resolver's answers for some names: each lookup of a name takes the next
    of the answers given for it (the last one repeats), and is counted."""

    def __init__(self, monkeypatch):
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: Counter = Counter()
        real_getaddrinfo = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            answers = self.answers.get(host)
            if answers is None:
                return real_getaddrinfo(host, port, *args, **kwargs)
            self.lookups[host] += 1
            addresses = answers.pop(0) if len(answers) > 1 else answers[0]
            return [info for a in addresses for info in real_getaddrinfo(a, port, *args, **kwargs)]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def answer(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = list(answers)


def self_signed_certificate(tmp_path, name: str) -> tuple[str, str]:
    """A self-signed certificate for `name` (no IP address in it) and its key, as files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def tls_receiver(tmp_path, name: str) -> tuple[Receiver, list[str], str]:
    """A Receiver on 127.0.0.1 (not started yet) serving HTTPS with a self-signed
    certificate for `name`, the SNI names it is asked for, and the certificate's file
    (for a client to trust)."""
    cert_file, key_file = self_signed_certificate(tmp_path, name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    sni: list[str] = []
    context.sni_callback = lambda _socket, server_name, _context: sni.append(server_name)
    return Receiver(tls=context), sni, cert_file
