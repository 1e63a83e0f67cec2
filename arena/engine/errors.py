"""Stable error codes of the wire protocol (PROTOCOL.md, "Envelope").

They live in the engine because the engine itself answers most requests; the
net layer uses the same constants for the checks it makes before a request
becomes an input. A code never changes meaning within a protocol version.
"""

BAD_FRAME = "bad_frame"
BAD_REQUEST = "bad_request"
UNKNOWN_TYPE = "unknown_type"
UNSUPPORTED_PROTOCOL = "unsupported_protocol"
UNAUTHENTICATED = "unauthenticated"
AUTH_FAILED = "auth_failed"
RATE_LIMITED = "rate_limited"
COOLDOWN_ACTIVE = "cooldown_active"
NOT_FOUND = "not_found"
NOT_ALLOWED = "not_allowed"
WRONG_STATE = "wrong_state"
INSUFFICIENT_FUNDS = "insufficient_funds"
DUPLICATE = "duplicate"
PAYMENT_FAILED = "payment_failed"
OVERLOADED = "overloaded"
INTERNAL = "internal"
# Server-side only (never sent to a client): an idempotency key the ledger
# already applied with other transfers. The effect stays pending for an operator.
KEY_CONFLICT = "key_conflict"

ALL_CODES = frozenset(
    {
        BAD_FRAME, BAD_REQUEST, UNKNOWN_TYPE, UNSUPPORTED_PROTOCOL, UNAUTHENTICATED,
        AUTH_FAILED, RATE_LIMITED, COOLDOWN_ACTIVE, NOT_FOUND, NOT_ALLOWED,
        WRONG_STATE, INSUFFICIENT_FUNDS, DUPLICATE, PAYMENT_FAILED, OVERLOADED,
        INTERNAL,
    }
)

# Codes of errors between the server's own parts (adapters to the tick loop),
# never put on the wire.
SERVER_ONLY_CODES = frozenset({KEY_CONFLICT})


class ArenaError(Exception):
    """An error that maps onto one protocol error code.

    Raised by adapters (ledger, judge, store) and by request validation; the
    net layer turns it into `[1, rid, "error", {"code", "message"}]`.
    """

    def __init__(self, code: str, message: str, retry_after_ms: int | None = None):
        if code not in ALL_CODES and code not in SERVER_ONLY_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms

    def body(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.retry_after_ms is not None:
            body["retry_after_ms"] = int(self.retry_after_ms)
        return body
