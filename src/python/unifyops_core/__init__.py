"""unifyops_core: one way for every UnifyOps service to fail, log, authenticate and call."""

from unifyops_core._version import __version__

__all__ = ["__version__"]
