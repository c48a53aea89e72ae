"""What outbound HTTP meets, stood in for in-process: the system resolver's answers for
some names (`Names`), an HTTPS server with a self-signed certificate for a host name, and
a forward proxy (`ConnectProxy`), plain or speaking TLS."""

from __future__ import annotations

import contextlib
import datetime
import socket
import socketserver
import ssl
import threading
from collections import Counter
from urllib.parse import urlsplit

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


def tls_context(tmp_path, name: str) -> tuple[ssl.SSLContext, list[str], str]:
    """A server-side TLS context with a self-signed certificate for `name`, the SNI names
    it is asked for, and the certificate's file (for a client to trust)."""
    cert_file, key_file = self_signed_certificate(tmp_path, name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    sni: list[str] = []
    context.sni_callback = lambda _socket, server_name, _context: sni.append(server_name)
    return context, sni, cert_file


def tls_receiver(tmp_path, name: str) -> tuple[Receiver, list[str], str]:
    """A Receiver on 127.0.0.1 (not started yet) serving HTTPS with a self-signed
    certificate for `name`, the SNI names it is asked for, and the certificate's file
    (for a client to trust)."""
    context, sni, cert_file = tls_context(tmp_path, name)
    return Receiver(tls=context), sni, cert_file


class ConnectProxy:
    """A forward proxy on 127.0.0.1 resolving names by its own table (`names`): tunnels
    `CONNECT host:port`, and passes a request for an absolute URL on as it is. Records
    each request's method and target and its Proxy-Authorization; answers 502 for a name
    it does not know. With `tls` (a server-side context), clients talk TLS to it (an
    https:// proxy), and a client that gives up on the handshake has told it nothing."""

    def __init__(self, names: dict[str, str], tls: ssl.SSLContext | None = None):
        self.names = names
        self.tls = tls
        self.asked: list[str] = []
        self.authorizations: list[str | None] = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                client = self.request
                if proxy.tls is not None:
                    try:
                        client = proxy.tls.wrap_socket(client, server_side=True)
                    except (ssl.SSLError, OSError):
                        return  # the client refused the certificate
                proxy._serve(client)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        scheme = "https" if tls else "http"
        self.port = self._server.server_address[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> ConnectProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
        method, target, _ = lines[0].split(" ")
        self.asked.append(f"{method} {target}")
        fields = dict(line.split(": ", 1) for line in lines[1:])
        self.authorizations.append(fields.get("Proxy-Authorization"))
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            forward = head.split(b"\r\n\r\n", 1)[1]
        else:
            parts = urlsplit(target)
            host, port, forward = parts.hostname, parts.port or 80, head
        if host not in self.names:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with socket.create_connection((self.names[host], int(port))) as upstream:
            if method == "CONNECT":
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            upstream.sendall(forward)
            answers = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            answers.start()
            _pipe(client, upstream)
            answers.join(10)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
