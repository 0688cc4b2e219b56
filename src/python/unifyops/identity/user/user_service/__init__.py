"""user-service: profiles owned by the authenticated subject, with optimistic concurrency."""

__version__ = "0.1.0"
# The unifyops_core versions this code is written against (PEP 440); `uo check-core` and start-up
# refuse any other core version.
CORE_REQUIREMENT = ">=0.1.12,<0.2"
