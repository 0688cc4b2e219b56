"""auth-service: accounts, password login, sessions, signing keys and service tokens."""

__version__ = "0.1.0"
