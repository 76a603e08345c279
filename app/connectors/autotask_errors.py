"""What an Autotask ``{"errors": [...]}`` answer means, decided in one place.

Autotask answers validation errors, refused credentials and its own transient trouble alike with
HTTP 500 and an ``errors`` array (api-contracts.md 2.4, "Behaviours of live systems" 12). Treating
every such answer as a verdict on the ticket fails items that only needed another try, or that
only failed because the integration code was revoked. The messages are matched here, case-blind,
and nowhere else:

- **credentials**: a revoked or wrong integration code (``IntegrationCode is invalid.``) or a user
  unknown to the zone (``Zone information could not be determined``). Handled like a 401: the
  system pauses with the credentials banner and no item fails.
- **rate_limit**: the hourly request threshold (``... threshold ... has been exceeded``).
- **transient**: deadlocks, SQL timeouts, "try again", and the per-endpoint thread limit that real
  tenants report as a non-429 ``Thread Threshold Exceeded``. Retried with backoff.
- **validation**: everything else. A per-item failure with the API's own message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

VerdictKind = Literal["credentials", "rate_limit", "transient", "validation"]

CREDENTIAL_MESSAGES: tuple[str, ...] = (
    "integrationcode is invalid",
    "integration code is invalid",
    "zone information could not be determined",
    "user not authenticated",
)
# The per-endpoint thread limit is transient (one of our own parallel calls is still running), not
# the hourly threshold: checked before RATE_MESSAGES, which would otherwise match "threshold".
THREAD_MESSAGES: tuple[str, ...] = ("thread threshold", "thread limit")
RATE_MESSAGES: tuple[str, ...] = (
    "request threshold",
    "requests per hour",
    "rate limit",
    "too many requests",
    "threshold exceeded",
)
# (phrase, the write may have been applied): a deadlock victim is rolled back and a "try again"
# was refused before work began; a timeout may have committed after we gave up waiting.
TRANSIENT_MESSAGES: tuple[tuple[str, bool], ...] = (
    ("deadlock", False),
    ("try again", False),
    ("temporarily unavailable", False),
    ("timeout expired", True),
    ("execution timeout", True),
    ("sql timeout", True),
    ("timed out", True),
)


@dataclass(frozen=True)
class Verdict:
    kind: VerdictKind
    may_have_landed: bool = False  # transient only: a write may have been applied


def classify(messages: Sequence[str]) -> Verdict:
    """Sort an ``errors`` array; the first rule that matches any message wins."""
    lowered = [message.casefold() for message in messages]

    def any_of(phrases: Sequence[str]) -> bool:
        return any(phrase in text for text in lowered for phrase in phrases)

    if any_of(CREDENTIAL_MESSAGES):
        return Verdict("credentials")
    if any_of(THREAD_MESSAGES):
        return Verdict("transient")
    if any_of(RATE_MESSAGES):
        return Verdict("rate_limit")
    for phrase, landed in TRANSIENT_MESSAGES:
        if any(phrase in text for text in lowered):
            return Verdict("transient", may_have_landed=landed)
    return Verdict("validation")


# A refused picklist value or reference: the tenant's picklists changed under us (refresh them).
STALE_VALUE_MESSAGES: tuple[str, ...] = (
    "does not reference an existing entity",
    "does not exist in the picklist",
    "does not belong to",
)


def refers_to_stale_value(message: str) -> bool:
    """True when a refusal names a value the tenant no longer has (picklists need a refresh)."""
    text = message.casefold()
    return any(phrase in text for phrase in STALE_VALUE_MESSAGES)
