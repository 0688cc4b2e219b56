"""environment-api: the public gateway of the environment stack (the platform's dashboard API)."""

__version__ = "0.1.0"
