"""Typed errors, raised where a problem is found and mapped once per edge.

    HeraldError                 base; `status` is the HTTP status an edge reports
    ├── InvalidInput            400/422: the request is malformed or breaks a rule
    ├── Unauthorized            401: missing or wrong credentials
    ├── Forbidden               403: known caller, not allowed to do this
    ├── NotFound                404: no such incident, service, user ...
    ├── Conflict                409: the action does not fit the current state
    ├── PayloadTooLarge         413: body over the configured limit
    └── Unavailable             503: a dependency is down; the work is queued, not lost

The HTTP app turns them into a JSON `{"error": kind, "reason": message}`, Slack into an ephemeral message and the CLI
into a message with exit status 2. Anything that is not a HeraldError is a bug: 500 with a logged id.
"""

from __future__ import annotations


class HeraldError(Exception):
    status: int = 400
    kind: str = "error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidInput(HeraldError):
    status = 422
    kind = "invalid_input"


class Unauthorized(HeraldError):
    status = 401
    kind = "unauthorized"


class Forbidden(HeraldError):
    status = 403
    kind = "forbidden"


class NotFound(HeraldError):
    status = 404
    kind = "not_found"


class Conflict(HeraldError):
    status = 409
    kind = "conflict"


class PayloadTooLarge(HeraldError):
    status = 413
    kind = "payload_too_large"


class Unavailable(HeraldError):
    status = 503
    kind = "unavailable"
