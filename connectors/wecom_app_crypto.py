"""WeCom's callback encryption (WXBizMsgCrypt; shared/spec/wecom-app.md "Receiving").

* signature: sha1 of token, timestamp, nonce and the ciphertext, sorted and joined;
* key: base64decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC with the key's
  first 16 bytes as IV; PKCS#7 padding to a multiple of 32 bytes;
* plaintext: 16 random bytes, 4-byte big-endian length, the message, the
  receive id (the corp id).

`CallbackCrypto(token, key, corp_id)` checks the URL check (`verify_url`),
opens a POSTed message (`decrypt_message`) and builds one as WeCom posts it
(`encrypt_message`, used by tests and the bench). botadmin sends no passive reply
(WXBizMsgCrypt's EncryptMsg: `Encrypt`, `MsgSignature`, `TimeStamp` and `Nonce` in
the XML): the callback answers an empty 200. Every failure raises a
`CallbackCryptoError` subclass; the view answers 403 to any of them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
import struct
import time
import xml.etree.ElementTree as ET
from xml.parsers import expat

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeCom pads to 32 bytes, not AES's 16
KEY_LENGTH = 43
TOKEN_MAX_LENGTH = 32
_ALPHANUMERIC = string.ascii_letters + string.digits
# A callback body is a few hundred bytes; anything far larger is not from WeCom.
MAX_BODY_BYTES = 1024 * 1024


class CallbackCryptoError(Exception):
    """The callback cannot be trusted or read."""


class BadSignature(CallbackCryptoError):
    pass


class WrongReceiveId(CallbackCryptoError):
    pass


class Undecryptable(CallbackCryptoError):
    pass


def generate_token() -> str:
    """A callback token as WeCom's console makes them: 32 letters and digits."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(TOKEN_MAX_LENGTH))


def generate_encoding_aes_key() -> str:
    """43 letters and digits; with "=" appended they decode to 32 bytes."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(KEY_LENGTH))


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key, or ValueError for a key WeCom would not accept."""
    if len(encoding_aes_key) != KEY_LENGTH or not encoding_aes_key.isascii():
        raise ValueError("the EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise ValueError("the EncodingAESKey must be letters and digits") from None
    if len(key) != 32:  # pragma: no cover - 43 base64 characters always give 32 bytes
        raise ValueError("the EncodingAESKey does not decode to 32 bytes")
    return key


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    joined = "".join(sorted([token, timestamp, nonce, encrypted]))
    return hashlib.sha1(joined.encode()).hexdigest()  # noqa: S324 (WeCom's scheme)


def encrypted_field(body: bytes) -> str:
    """The <Encrypt> text of a callback body."""
    if len(body) > MAX_BODY_BYTES:
        raise Undecryptable("callback body too large")
    # WeCom never sends a DTD; refusing one keeps entity tricks out of the parser. The
    # body is not authenticated yet, and it may declare any encoding (UTF-16 too), so
    # the refusal comes from the parser itself, not from a search of the bytes.
    try:
        _refuse_dtd(body)
        root = ET.fromstring(body)  # noqa: S314 (no DTD, bounded size: checked above)
    except (ET.ParseError, expat.ExpatError, ValueError) as error:  # ValueError: UTF-16-BE…
        raise Undecryptable(f"callback body is not XML: {error}") from None
    value = root.findtext("Encrypt")
    if not value:
        raise Undecryptable("callback body has no Encrypt element")
    return value.strip()


def _refuse_dtd(body: bytes) -> None:
    """Raise Undecryptable at a DOCTYPE, before any entity is declared or expanded."""

    def refuse(*_args) -> None:
        raise Undecryptable("callback body with a DTD")

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.Parse(body, True)


class CallbackCrypto:
    def __init__(self, token: str, encoding_aes_key: str, receive_id: str):
        self.token = token
        self.key = aes_key(encoding_aes_key)
        self.receive_id = receive_id

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return signature(self.token, timestamp, nonce, encrypted)

    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str):
        expected = self.signature(timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected, (msg_signature or "").lower()):
            raise BadSignature("msg_signature does not match")

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The URL check: the plaintext of `echostr` to answer with."""
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt_message(self, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> str:
        """The message XML of a POSTed callback."""
        encrypted = encrypted_field(body)
        self.check_signature(msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def decrypt(self, encrypted: str) -> str:
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise Undecryptable("ciphertext is not base64") from None
        # WeCom pads to 32 bytes: a ciphertext of an odd number of AES blocks is not its.
        if not data or len(data) % BLOCK:
            raise Undecryptable("ciphertext length is not a multiple of 32 bytes")
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        pad = padded[-1]
        if not 1 <= pad <= BLOCK or padded[-pad:] != bytes([pad]) * pad:
            raise Undecryptable("bad padding (wrong EncodingAESKey?)")
        plain = padded[:-pad]
        if len(plain) < 20:
            raise Undecryptable("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        message, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if len(message) != length:
            raise Undecryptable("message length beyond the plaintext")
        if not hmac.compare_digest(receive_id, self.receive_id.encode()):
            raise WrongReceiveId("the message is for another corp id")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise Undecryptable("message is not UTF-8") from None

    def encrypt(self, message: str, random_prefix: bytes | None = None) -> str:
        prefix = random_prefix if random_prefix is not None else secrets.token_bytes(16)
        raw = message.encode("utf-8")
        plain = prefix + struct.pack(">I", len(raw)) + raw + self.receive_id.encode()
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def encrypt_message(
        self, message: str, nonce: str, timestamp: str | None = None, agent_id: int | None = None
    ) -> tuple[str, dict[str, str]]:
        """(POST body, query parameters) of a callback carrying `message`, the body as WeCom
        posts it: the corp ID, the app's AgentID (when given) and the ciphertext."""
        timestamp = timestamp or str(int(time.time()))
        encrypted = self.encrypt(message)
        agent = f"<AgentID><![CDATA[{agent_id}]]></AgentID>" if agent_id is not None else ""
        body = (
            f"<xml><ToUserName><![CDATA[{self.receive_id}]]></ToUserName>{agent}"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
        query = {
            "msg_signature": self.signature(timestamp, nonce, encrypted),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        return body, query
