"""kubeseal's wire format: a value only the cluster's sealed-secrets controller can decrypt.

Each value is sealed on its own (Bitnami sealed-secrets, ``pkg/crypto.HybridEncrypt``):

- a random single-use 32-byte session key encrypts the value with AES-256-GCM; because the key is
  used once, the 12-byte nonce is all zeros and there is no additional data;
- the session key is encrypted with RSA-OAEP (SHA-256, MGF1-SHA-256) to the controller's public
  key, with the *label* set to the sealing scope: ``<namespace>/<name>`` for the default strict
  scope, so a ciphertext moved to another Secret name or namespace does not decrypt;
- the result is ``uint16 big-endian len(rsa) || rsa ciphertext || aes-gcm ciphertext+tag``,
  base64 (standard alphabet, padded) in ``spec.encryptedData.<key>``.

Only public material is handled here; decryption lives in ``sealing_testutil`` for the tests.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SESSION_KEY_BYTES = 32
NONCE = bytes(12)  # kubeseal's zero nonce: safe only because each session key seals one value


class CertificateError(ValueError):
    """The controller certificate is not a PEM X.509 certificate with an RSA public key."""


def strict_label(namespace: str, name: str) -> bytes:
    """The RSA-OAEP label of the strict scope (kubeseal's default): ``<namespace>/<name>``."""
    return f"{namespace}/{name}".encode()


def oaep(label: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """The RSA key of a controller certificate (what ``kubeseal --fetch-cert`` prints)."""
    try:
        key = x509.load_pem_x509_certificate(pem).public_key()
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateError("the certificate's key is not RSA")
    return key


def fingerprint(key: rsa.RSAPublicKey) -> str:
    """sha256 of the DER public key: names which controller key a ciphertext was sealed to."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


def hybrid_encrypt(key: rsa.RSAPublicKey, plaintext: bytes, label: bytes) -> bytes:
    session_key = os.urandom(SESSION_KEY_BYTES)
    wrapped = key.encrypt(session_key, oaep(label))
    sealed = AESGCM(session_key).encrypt(NONCE, plaintext, None)
    return struct.pack(">H", len(wrapped)) + wrapped + sealed


def seal(key: rsa.RSAPublicKey, plaintext: bytes, *, namespace: str, name: str) -> str:
    """The ``encryptedData`` value of one key of Secret ``namespace/name`` (strict scope)."""
    return base64.b64encode(hybrid_encrypt(key, plaintext, strict_label(namespace, name))).decode()


__all__ = [
    "NONCE",
    "SESSION_KEY_BYTES",
    "CertificateError",
    "fingerprint",
    "hybrid_encrypt",
    "load_public_key",
    "oaep",
    "seal",
    "strict_label",
]
