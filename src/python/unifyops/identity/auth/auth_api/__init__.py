"""auth-api: the public gateway of the auth stack (accounts, sessions, JWKS, service tokens)."""

__version__ = "0.1.0"
