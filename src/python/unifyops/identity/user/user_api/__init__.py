"""user-api: the public gateway of the user stack (one's own profile; admin listing)."""

__version__ = "0.1.0"
