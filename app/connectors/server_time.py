"""The remote server's clock, learnt from the ``Date`` header of its answers.

Record stamps (``sys_updated_on``, ``lastActivityDate``) come from the server's clock, so a poll
watermark must be a *server* time: "everything stamped before the moment this poll began". Each
answer's ``Date`` header gives the offset between that clock and ours; a poll notes our time when
it begins (with the offset known then; the very first poll uses the offset its own answers
taught) and converts it afterwards. The header has whole seconds and is written before the answer
travels, so the estimate errs early (a re-read), never late (a loss). Without a usable header the
offset stays zero: our own clock.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

# A Date header further off than this is not believed (a proxy's cached answer, a broken clock).
MAX_BELIEVED_SKEW = timedelta(days=2)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Mark:
    """Our time at a moment (a poll's start) and the server's offset as known then."""

    local: datetime
    skew: timedelta | None


class ServerClock:
    def __init__(self, local: Callable[[], datetime] = _utcnow) -> None:
        self._local = local
        self.skew: timedelta | None = None  # server clock minus ours; None until an answer said

    def mark(self) -> Mark:
        return Mark(self._local(), self.skew)

    def observe(self, response: httpx.Response) -> None:
        text = response.headers.get("date")
        if not text:
            return
        try:
            stamp = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return  # remote text: a malformed header is ignored, never trusted
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        skew = stamp - self._local()
        if abs(skew) <= MAX_BELIEVED_SKEW:
            self.skew = skew

    def to_server(self, mark: Mark) -> datetime:
        """The server's time at the marked moment (whole seconds, rounded down)."""
        skew = mark.skew if mark.skew is not None else (self.skew or timedelta())
        return (mark.local + skew).astimezone(UTC).replace(microsecond=0)
