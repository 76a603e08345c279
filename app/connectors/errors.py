"""Typed connector errors: what went wrong, whether retrying can help, and whether a write may
already have happened (the fact the engine needs to avoid duplicate tickets)."""

from __future__ import annotations

from typing import Literal

System = Literal["servicenow", "autotask"]


class ConnectorError(Exception):
    """Base class. ``retryable``: trying again later may succeed. ``outcome_unknown``: the request
    may have been processed even though we got no usable answer (timeout after send, reset, 5xx)."""

    retryable: bool = False

    def __init__(
        self,
        system: System,
        message: str,
        *,
        status: int | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.system = system
        self.message = message
        self.status = status
        self.outcome_unknown = outcome_unknown

    def __str__(self) -> str:
        name = {"servicenow": "ServiceNow", "autotask": "Autotask"}[self.system]
        code = f" (HTTP {self.status})" if self.status else ""
        return f"{name}: {self.message}{code}"


class AuthFailed(ConnectorError):
    """Credentials refused (401) or not configured: pause that system, tell the user once."""


class NotFound(ConnectorError):
    """The record does not exist or is hidden by ACLs."""


class Rejected(ConnectorError):
    """The API refused the request for good (validation, data policy, permission on this record).
    Carries the API's own message; retrying the same request cannot help."""


class RateLimited(ConnectorError):
    """Too many requests; ``retry_after`` seconds to wait when the API said so."""

    retryable = True

    def __init__(
        self,
        system: System,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
    ) -> None:
        super().__init__(system, message, status=status, outcome_unknown=False)
        self.retry_after = retry_after


class Transient(ConnectorError):
    """Network failure, timeout or server error; worth retrying with backoff."""

    retryable = True


class UnexpectedResponse(ConnectorError):
    """The answer is not what the API documents (HTML login or hibernation page, truncated JSON,
    wrong envelope). Never treated as "zero records"; retried like a transient failure."""

    retryable = True
