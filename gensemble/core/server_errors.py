"""What a failed MLflow call means for the user: the thing is not there, the server could
not be reached, the server refused the credentials, or the server failed.

A lookup that catches every exception and says "not found" hides a network outage or an
expired token behind a wrong diagnosis; :func:`lookup_failure` tells them apart.  An
exception that is none of these (a ``TypeError`` in our own code) is not converted: it
stays a bug with its traceback.
"""

from __future__ import annotations

import logging
from enum import Enum

from gensemble.core.errors import NotFoundError, ServerUnreachable, UserError, one_line

LOG = logging.getLogger(__name__)

_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"}
_REFUSED = {"UNAUTHENTICATED", "PERMISSION_DENIED", "UNAUTHORIZED"}
_NETWORK_WORDS = (
    "max retries exceeded",
    "connection refused",
    "failed to establish",
    "name or service not known",
    "temporary failure in name resolution",
    "timed out",
    "connectionerror",
)


class Failure(Enum):
    NOT_FOUND = "not found"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"
    SERVER = "server error"
    OTHER = "other"


def classify(exc: BaseException) -> Failure:
    """The kind of failure of an MLflow client call."""
    from mlflow.exceptions import MlflowException

    code = getattr(exc, "error_code", None)
    status = getattr(exc, "get_http_status_code", lambda: None)()
    text = f"{type(exc).__name__} {exc}".lower()
    if isinstance(exc, (ConnectionError, TimeoutError)) or any(w in text for w in _NETWORK_WORDS):
        return Failure.UNREACHABLE
    try:
        import requests

        if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
            return Failure.UNREACHABLE
    except ImportError:  # pragma: no cover - mlflow depends on requests
        pass
    if isinstance(exc, MlflowException):
        if code in _REFUSED or status in (401, 403):
            return Failure.REFUSED
        if code in _NOT_FOUND or status == 404:
            return Failure.NOT_FOUND
        return Failure.SERVER
    return Failure.OTHER


def lookup_failure(exc: BaseException, what: str, uri: str | None) -> UserError:
    """The one-line error a failed lookup of ``what`` (e.g. "run 'abc'") becomes; the
    exception itself is raised back when it is not an MLflow failure (a bug)."""
    where = f" in {uri}" if uri else ""
    kind = classify(exc)
    detail = one_line(exc)[:200]
    if kind is Failure.NOT_FOUND:
        return NotFoundError(f"{what} not found{where}")
    if kind is Failure.UNREACHABLE:
        return ServerUnreachable(
            f"cannot reach the tracking server{where} to look up {what}: {detail}"
        )
    if kind is Failure.REFUSED:
        return ServerUnreachable(
            f"the tracking server{where} refused the credentials while looking up {what}: {detail}"
        )
    if kind is Failure.SERVER:
        return UserError(f"the tracking server{where} failed while looking up {what}: {detail}")
    raise exc
