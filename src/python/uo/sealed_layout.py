"""Where sealed Secrets live in infra/environments/<env>/: names only, so `uo seal`'s help text
needs none of the cryptography and Helm that sealing itself imports."""

CERTIFICATE_FILE = "sealed-secrets-cert.pem"  # the environment's controller certificate
SEALED_DIR = "sealed"  # one <stack>.yaml of SealedSecrets per stack

__all__ = ["CERTIFICATE_FILE", "SEALED_DIR"]
