"""The callback crypto, cross-checked against WeCom's sample values and wechatpy.

wechatpy 1.8.18 (`wechatpy.enterprise.crypto.WeChatCrypto`) is an independent
implementation of the same scheme (a dev dependency only).
"""

import base64
import random
import string

import pytest
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException

from connectors.wecom_app_crypto import (
    BadSignature,
    CallbackCrypto,
    Undecryptable,
    WrongReceiveId,
    aes_key,
    encrypted_field,
    generate_encoding_aes_key,
    generate_token,
)

# WeCom's WXBizMsgCrypt sample (Sample.py of the official callback library).
SAMPLE_TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
SAMPLE_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
SAMPLE_CORP = "ww1436e0e65a779aee"
SAMPLE_VERIFY = {
    "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "timestamp": "1476416373",
    "nonce": "47744683",
    "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
}
SAMPLE_ECHO_PLAIN = "1288432023552776189"
SAMPLE_POST = {
    "msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
    "timestamp": "1476422779",
    "nonce": "1597212914",
}
SAMPLE_BODY = (
    "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA["
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3Nye"
    "TkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0"
    "VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ"
    "7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSG"
    "XAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+]]></Encrypt>\n"
    "<AgentID><![CDATA[1000002]]></AgentID>\n</xml>"
)
SAMPLE_MESSAGE = (
    "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>"
    "<CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
    "<MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
)


def ours(token=SAMPLE_TOKEN, key=SAMPLE_KEY, corp=SAMPLE_CORP) -> CallbackCrypto:
    return CallbackCrypto(token, key, corp)


def theirs(token=SAMPLE_TOKEN, key=SAMPLE_KEY, corp=SAMPLE_CORP) -> WeChatCrypto:
    return WeChatCrypto(token, key, corp)


def test_the_url_check_of_wecoms_sample_answers_its_plaintext():
    v = SAMPLE_VERIFY
    answer = ours().verify_url(v["msg_signature"], v["timestamp"], v["nonce"], v["echostr"])
    assert answer == SAMPLE_ECHO_PLAIN


def test_the_message_of_wecoms_sample_decrypts_to_its_xml():
    p = SAMPLE_POST
    message = ours().decrypt_message(
        SAMPLE_BODY.encode(), p["msg_signature"], p["timestamp"], p["nonce"]
    )
    assert message == SAMPLE_MESSAGE


def test_a_url_check_with_a_wrong_signature_is_refused():
    v = SAMPLE_VERIFY
    with pytest.raises(BadSignature):
        ours().verify_url("0" * 40, v["timestamp"], v["nonce"], v["echostr"])
    with pytest.raises(BadSignature):
        ours(token="another-token").verify_url(
            v["msg_signature"], v["timestamp"], v["nonce"], v["echostr"]
        )


def test_a_message_for_another_corp_is_refused():
    p = SAMPLE_POST
    with pytest.raises(WrongReceiveId):
        ours(corp="ww0000000000000000").decrypt_message(
            SAMPLE_BODY.encode(), p["msg_signature"], p["timestamp"], p["nonce"]
        )


def test_a_message_under_another_key_is_refused():
    p = SAMPLE_POST
    with pytest.raises((Undecryptable, WrongReceiveId)):
        ours(key=generate_encoding_aes_key()).decrypt_message(
            SAMPLE_BODY.encode(), p["msg_signature"], p["timestamp"], p["nonce"]
        )


def _random_text(rng: random.Random) -> str:
    alphabet = string.printable + "你好企业微信😀"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 300)))


@pytest.mark.parametrize("seed", range(20))
def test_what_wechatpy_encrypts_we_decrypt(seed):
    rng = random.Random(seed)
    token, key, corp = generate_token(), generate_encoding_aes_key(), "ww" + str(seed) * 8
    message = f"<xml><Content><![CDATA[{_random_text(rng)}]]></Content></xml>"
    xml = theirs(token, key, corp).encrypt_message(message, str(seed), "1733100000")
    encrypted = encrypted_field(xml.encode())
    sig = xml.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    assert ours(token, key, corp).decrypt_message(xml.encode(), sig, "1733100000", str(seed)) == (
        message
    )
    # The URL check carries the bare ciphertext as echostr.
    assert ours(token, key, corp).verify_url(sig, "1733100000", str(seed), encrypted) == message


@pytest.mark.parametrize("seed", range(20))
def test_what_we_encrypt_wechatpy_decrypts(seed):
    rng = random.Random(1000 + seed)
    token, key, corp = generate_token(), generate_encoding_aes_key(), "wwcorp" + str(seed)
    message = _random_text(rng)
    body, query = ours(token, key, corp).encrypt_message(message, "n" + str(seed), "1733100001")
    decrypted = theirs(token, key, corp).decrypt_message(
        body, query["msg_signature"], query["timestamp"], query["nonce"]
    )
    assert decrypted == message
    echostr = encrypted_field(body.encode())
    assert (
        theirs(token, key, corp).check_signature(
            query["msg_signature"], query["timestamp"], query["nonce"], echostr
        )
        == message
    )


def test_wechatpy_refuses_what_we_sign_with_another_token():
    body, query = ours(token="a" * 32).encrypt_message("hi", "1", "2")
    with pytest.raises(InvalidSignatureException):
        theirs(token="b" * 32).decrypt_message(body, query["msg_signature"], "2", "1")


def test_ciphertext_is_padded_to_32_bytes():
    for length in range(0, 70):
        raw = base64.b64decode(ours().encrypt("x" * length))
        assert len(raw) % 32 == 0


def test_a_message_padded_to_16_bytes_as_plain_aes_does_is_not_wecoms_and_is_refused():
    """WeCom pads to a multiple of 32 bytes (PKCS#7 with a 32-byte block): a ciphertext of an
    odd number of AES blocks, signed with the right token, was not made by WeCom."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = aes_key(SAMPLE_KEY)
    message = b"<xml><Content>hi</Content></xml>"
    plain = b"0123456789abcdef" + len(message).to_bytes(4, "big") + message + SAMPLE_CORP.encode()
    pad = 16 - len(plain) % 16
    plain += bytes([pad]) * pad
    assert len(plain) % 32 == 16  # an odd number of AES blocks
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    encrypted = base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()
    signature = ours().signature("1476422779", "1597212914", encrypted)

    with pytest.raises(Undecryptable, match="multiple of 32"):
        ours().verify_url(signature, "1476422779", "1597212914", encrypted)


def test_same_random_prefix_gives_wechatpys_ciphertext():
    # wechatpy draws its 16 random bytes as text: fix them both to compare bytes.
    prefix = b"0123456789abcdef"
    from wechatpy.enterprise.crypto import PrpCrypto

    expected = PrpCrypto(aes_key(SAMPLE_KEY))
    expected.get_random_string = lambda: prefix.decode()
    theirs_ciphertext = expected.encrypt(SAMPLE_MESSAGE, SAMPLE_CORP).decode()
    assert ours().encrypt(SAMPLE_MESSAGE, prefix) == theirs_ciphertext


def test_generated_secrets_have_wecoms_shapes():
    token, key = generate_token(), generate_encoding_aes_key()
    assert len(token) == 32 and token.isalnum()
    assert len(key) == 43 and key.isalnum()
    assert len(aes_key(key)) == 32


@pytest.mark.parametrize("bad", ["short", "x" * 44, "!" * 43, "é" * 43])
def test_a_malformed_key_is_refused(bad):
    with pytest.raises(ValueError):
        aes_key(bad)


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<xml></xml>",
        b'<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>',
        b"<xml><Encrypt>!!!</Encrypt></xml>",
        b"<xml><Encrypt>AAAA</Encrypt></xml>",
    ],
)
def test_garbage_bodies_are_undecryptable(body):
    crypto = ours()
    with pytest.raises(Undecryptable):
        encrypted = encrypted_field(body)
        crypto.decrypt(encrypted)


def test_a_dtd_is_refused_in_whatever_encoding_the_body_declares():
    # Checked before the signature: an unauthenticated body must not reach an entity expansion.
    body = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        '<!DOCTYPE x [<!ENTITY a "expanded">]><xml><Encrypt>&a;</Encrypt></xml>'
    ).encode("utf-16")

    with pytest.raises(Undecryptable, match="DTD"):
        encrypted_field(body)


def test_a_body_in_an_encoding_the_parser_cannot_read_is_undecryptable():
    body = '<?xml version="1.0" encoding="UTF-16-BE"?><xml><Encrypt>AAAA</Encrypt></xml>'

    with pytest.raises(Undecryptable, match="not XML"):
        encrypted_field(body.encode("utf-16-be"))
