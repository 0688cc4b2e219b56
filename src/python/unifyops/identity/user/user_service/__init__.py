"""user-service: profiles owned by the authenticated subject, with optimistic concurrency."""

__version__ = "0.1.0"
