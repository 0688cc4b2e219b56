"""What only tests need: a throwaway controller key pair and the controller's side of sealing.

Never used by ``uo`` itself; the private key lives in memory for one test and is never written.
"""

from __future__ import annotations

import base64
import datetime
import struct
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from uo.sealing import NONCE, oaep, strict_label


@dataclass(frozen=True)
class Controller:
    """A stand-in for a cluster's sealed-secrets controller: its key and self-signed cert."""

    private_key: rsa.RSAPrivateKey
    certificate_pem: bytes

    @classmethod
    def generate(cls, key_size: int = 2048, common_name: str = "sealed-secret") -> Controller:
        key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        return cls(key, self_signed_certificate(key, common_name))

    def unseal(self, value: str, *, namespace: str, name: str) -> bytes:
        return hybrid_decrypt(
            self.private_key, base64.b64decode(value), strict_label(namespace, name)
        )


def self_signed_certificate(key: rsa.RSAPrivateKey, common_name: str) -> bytes:
    """A certificate shaped like the controller's (self-signed, long-lived, RSA)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def hybrid_decrypt(key: rsa.RSAPrivateKey, ciphertext: bytes, label: bytes) -> bytes:
    """The controller's ``HybridDecrypt``; raises on a wrong key, label or any altered byte."""
    if len(ciphertext) < 2:
        raise ValueError("sealed value too short")
    (length,) = struct.unpack(">H", ciphertext[:2])
    if len(ciphertext) < 2 + length:
        raise ValueError("sealed value too short")
    session_key = key.decrypt(ciphertext[2 : 2 + length], oaep(label))
    return AESGCM(session_key).decrypt(NONCE, ciphertext[2 + length :], None)


__all__ = ["Controller", "hybrid_decrypt", "self_signed_certificate"]
