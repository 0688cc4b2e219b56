import base64
import datetime

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from uo.sealing import CertificateError, fingerprint, load_public_key, oaep, seal, strict_label
from uo.sealing_testutil import Controller, hybrid_decrypt, self_signed_certificate

CONTROLLER = Controller.generate()
KEY = load_public_key(CONTROLLER.certificate_pem)


def test_round_trip_through_the_controllers_decryption() -> None:
    value = seal(KEY, b"s3cret value", namespace="uo-dev", name="auth-db-credentials")
    assert CONTROLLER.unseal(value, namespace="uo-dev", name="auth-db-credentials") == (
        b"s3cret value"
    )


def test_wire_format_is_length_rsa_ciphertext_then_aes_gcm_with_a_zero_nonce() -> None:
    plaintext = b"exactly this"
    raw = base64.b64decode(seal(KEY, plaintext, namespace="uo-dev", name="x"), validate=True)
    rsa_length = int.from_bytes(raw[:2], "big")
    assert rsa_length == KEY.key_size // 8
    assert len(raw) == 2 + rsa_length + len(plaintext) + 16  # GCM tag
    session_key = CONTROLLER.private_key.decrypt(raw[2 : 2 + rsa_length], oaep(b"uo-dev/x"))
    assert len(session_key) == 32
    assert AESGCM(session_key).decrypt(bytes(12), raw[2 + rsa_length :], None) == plaintext


def test_every_seal_uses_a_new_session_key() -> None:
    first = seal(KEY, b"same", namespace="uo-dev", name="x")
    assert first != seal(KEY, b"same", namespace="uo-dev", name="x")


@pytest.mark.parametrize(("namespace", "name"), [("uo-prod", "x"), ("uo-dev", "y")])
def test_another_scope_does_not_decrypt(namespace: str, name: str) -> None:
    value = seal(KEY, b"value", namespace="uo-dev", name="x")
    with pytest.raises(ValueError, match="Decryption failed"):
        CONTROLLER.unseal(value, namespace=namespace, name=name)


def test_strict_label_is_namespace_slash_name() -> None:
    assert strict_label("uo-dev", "auth-api-client") == b"uo-dev/auth-api-client"


@pytest.mark.parametrize("position", [0, 1, 5, 200, 258, -1])
def test_any_altered_byte_fails(position: int) -> None:
    raw = bytearray(base64.b64decode(seal(KEY, b"value", namespace="uo-dev", name="x")))
    raw[position] ^= 0x01
    with pytest.raises((ValueError, InvalidTag)):
        hybrid_decrypt(CONTROLLER.private_key, bytes(raw), b"uo-dev/x")


def test_another_controller_cannot_decrypt() -> None:
    value = seal(KEY, b"value", namespace="uo-dev", name="x")
    with pytest.raises(ValueError, match="Decryption failed"):
        Controller.generate().unseal(value, namespace="uo-dev", name="x")


def test_certificates_must_be_pem_with_an_rsa_key() -> None:
    with pytest.raises(CertificateError, match="not a PEM certificate"):
        load_public_key(b"not a certificate")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec")])
    now = datetime.datetime.now(datetime.UTC)
    pem = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ec_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(CertificateError, match="not RSA"):
        load_public_key(pem)


def test_fingerprint_names_the_key_not_the_certificate() -> None:
    again = load_public_key(self_signed_certificate(CONTROLLER.private_key, "another name"))
    assert fingerprint(again) == fingerprint(KEY)
    assert fingerprint(load_public_key(Controller.generate().certificate_pem)) != fingerprint(KEY)
