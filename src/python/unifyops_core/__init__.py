"""unifyops_core: one way for every UnifyOps service to fail, log, authenticate and call.

The names below are the public API; modules are importable directly too. They are imported on
first use (PEP 562): a tool that needs one light module (the operator CLI reads only ``naming``
and ``desired_state``) does not pay for FastAPI and SQLAlchemy, which the full API pulls in.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from unifyops_core._version import __version__

if TYPE_CHECKING:
    # For the type checker only; "no-infer-dep" keeps Pants from making every module of the
    # package a dependency of whoever imports one of them (this file is every importer's
    # dependency): a process that needs the middleware must not carry FastAPI and SQLAlchemy.
    from unifyops_core.app import create_service_app  # pants: no-infer-dep
    from unifyops_core.client import ServiceClient  # pants: no-infer-dep
    from unifyops_core.error_schema import ERROR_RESPONSES, ErrorResponse  # pants: no-infer-dep
    from unifyops_core.exceptions import (
        AuthenticationError,
        AuthorizationError,
        ClientError,
        ConflictError,
        DependencyUnavailableError,
        DownstreamError,
        InvalidServiceTokenError,
        NotFoundError,
        PayloadTooLargeError,
        PreconditionFailedError,
        PreconditionRequiredError,
        RateLimitedError,
        RecordNotFoundError,
        ServerError,
        UnifyOpsError,
        ValidationError,
    )  # pants: no-infer-dep (on the closing line: that is the line Pants reads it on)
    from unifyops_core.handlers import register_exception_handlers  # pants: no-infer-dep
    from unifyops_core.health import HealthRegistry, health_router  # pants: no-infer-dep
    from unifyops_core.keys import JwksKeys, StaticKeys  # pants: no-infer-dep
    from unifyops_core.logs import configure_logging  # pants: no-infer-dep
    from unifyops_core.middleware import RequestContextMiddleware  # pants: no-infer-dep
    from unifyops_core.redaction import redact  # pants: no-infer-dep
    from unifyops_core.security import (
        CurrentUser,
        install_auth,
        require_scopes,
        require_service,
    )  # pants: no-infer-dep
    from unifyops_core.service_tokens import ServiceTokenProvider  # pants: no-infer-dep
    from unifyops_core.settings import ServiceSettings  # pants: no-infer-dep
    from unifyops_core.tokens import Principal, TokenValidator  # pants: no-infer-dep

# The modules that define the public names, searched in order on first use of a name.
_MODULES = (
    "app",
    "client",
    "error_schema",
    "exceptions",
    "handlers",
    "health",
    "keys",
    "logs",
    "middleware",
    "redaction",
    "security",
    "service_tokens",
    "settings",
    "tokens",
)


if not TYPE_CHECKING:  # the type checker sees the imports above, and no catch-all attribute

    def __getattr__(name: str) -> Any:
        if name in __all__:
            for module_name in _MODULES:
                module = importlib.import_module(f"unifyops_core.{module_name}")
                if hasattr(module, name):
                    value = getattr(module, name)
                    globals()[name] = value
                    return value
        raise AttributeError(f"module 'unifyops_core' has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))


__all__ = [
    "ERROR_RESPONSES",
    "AuthenticationError",
    "AuthorizationError",
    "ClientError",
    "ConflictError",
    "CurrentUser",
    "DependencyUnavailableError",
    "DownstreamError",
    "ErrorResponse",
    "HealthRegistry",
    "InvalidServiceTokenError",
    "JwksKeys",
    "NotFoundError",
    "PayloadTooLargeError",
    "PreconditionFailedError",
    "PreconditionRequiredError",
    "Principal",
    "RateLimitedError",
    "RecordNotFoundError",
    "RequestContextMiddleware",
    "ServerError",
    "ServiceClient",
    "ServiceSettings",
    "ServiceTokenProvider",
    "StaticKeys",
    "TokenValidator",
    "UnifyOpsError",
    "ValidationError",
    "__version__",
    "configure_logging",
    "create_service_app",
    "health_router",
    "install_auth",
    "redact",
    "register_exception_handlers",
    "require_scopes",
    "require_service",
]
