"""Exceptions raised by the client.

Every error answer of the service is an RFC 9457 problem (``application/problem+json``) whose
``type`` is a stable URI ``urn:latentbridge:problem:<kind>``: branch on :attr:`ProblemError.kind`
(or ``type``), never on the prose of ``detail``.
"""

from __future__ import annotations

import datetime
import email.utils

from typing import Any, Dict, List, Mapping, Optional

PROBLEM_TYPE_BASE = "urn:latentbridge:problem:"


class LatentbridgeError(Exception):
    """Base class of every exception this package raises."""


class ProblemError(LatentbridgeError):
    """An error answer of the service (a problem object), or a non-problem error answer.

    Attributes:
        status: the HTTP status (e.g. 422).
        type: the problem type URI, e.g. ``urn:latentbridge:problem:unprocessable``
            (``about:blank`` when the answer was not a problem, e.g. from a proxy).
        title: the short, fixed title of the type.
        detail: what is wrong with this request and how to fix it.
        errors: for invalid requests, each field at fault (``path``, ``message``).
        problem: the whole problem object as received.
        headers: the response headers (lower-case names).
    """

    def __init__(self, status: int, type: str, title: str, detail: str,
                 errors: Optional[List[Dict[str, str]]] = None,
                 problem: Optional[Mapping[str, Any]] = None,
                 headers: Optional[Mapping[str, str]] = None) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.problem: Dict[str, Any] = dict(problem or {})
        self.headers: Dict[str, str] = dict(headers or {})

    @property
    def kind(self) -> Optional[str]:
        """The problem kind (the type URI without its prefix), e.g. ``"not-found"``; None if foreign."""
        if self.type.startswith(PROBLEM_TYPE_BASE):
            return self.type[len(PROBLEM_TYPE_BASE):]
        return None

    @property
    def retry_after(self) -> Optional[float]:
        """The Retry-After seconds of a 429 or 503 answer, if it carried one."""
        return parse_retry_after(self.headers.get("retry-after"))

    @classmethod
    def from_problem(cls, status: int, problem: Mapping[str, Any],
                     headers: Optional[Mapping[str, str]] = None) -> "ProblemError":
        """Builds the exception from a problem object (as answered, or inside an operation)."""
        return cls(
            status=int(problem.get("status", status) or status),
            type=str(problem.get("type", "about:blank")),
            title=str(problem.get("title", "")),
            detail=str(problem.get("detail", "")),
            errors=problem.get("errors") if isinstance(problem.get("errors"), list) else None,
            problem=problem,
            headers=headers,
        )


class OperationFailed(ProblemError):
    """A long operation (an asynchronous fit, evaluation or report) ended in ``failed``.

    Carries the operation's ``error`` problem; :attr:`operation` is the operation object.
    """

    def __init__(self, operation: Mapping[str, Any]) -> None:
        error = operation.get("error") or {}
        status = int(error.get("status", 500) or 500)
        super().__init__(status, str(error.get("type", "about:blank")), str(error.get("title", "Operation failed")),
                         str(error.get("detail", f"operation {operation.get('id')} failed")),
                         errors=error.get("errors") if isinstance(error.get("errors"), list) else None, problem=error)
        self.operation: Dict[str, Any] = dict(operation)


class OperationCancelled(LatentbridgeError):
    """A long operation ended in ``cancelled``: nothing was stored."""

    def __init__(self, operation: Mapping[str, Any]) -> None:
        super().__init__(f"operation {operation.get('id')} was cancelled")
        self.operation: Dict[str, Any] = dict(operation)


class OperationTimeout(LatentbridgeError):
    """Waiting for an operation took longer than the caller allowed; the operation goes on."""

    def __init__(self, operation: Mapping[str, Any], waited: float) -> None:
        super().__init__(f"operation {operation.get('id')} is still {operation.get('status')} after {waited:.0f} s; "
                         "wait again with Client.wait_operation, or cancel it with Client.cancel_operation")
        self.operation: Dict[str, Any] = dict(operation)


class LimitError(LatentbridgeError, ValueError):
    """The request cannot be sent within the service's limits (from ``GET /v1/info``) and cannot be split."""


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a Retry-After header (delta-seconds form); None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        # The HTTP-date form.
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        return max(0.0, seconds)
    return seconds if seconds >= 0 else None
