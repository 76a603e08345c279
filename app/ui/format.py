"""Small text helpers for the views: priorities, ages, local times. No Qt here."""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import overload

from app.config import AppConfig, desk_name
from app.domain.records import INCIDENT_PRIORITIES

SYSTEM_LABELS: dict[str, str] = {"servicenow": "ServiceNow", "autotask": "Autotask"}


def priority_label(priority: int) -> str:
    return INCIDENT_PRIORITIES.get(priority, str(priority))


def now_utc() -> datetime:
    return datetime.now(UTC)


def humanize_age(moment: datetime | None, now: datetime | None = None) -> str:
    """``"just now"``, ``"4 min"``, ``"3 h 5 min"``, ``"2 d 4 h"``."""
    if moment is None:
        return ""
    now = now or now_utc()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def humanize_until(moment: datetime | None, now: datetime | None = None) -> str:
    """``"in 40 s"``, ``"in 3 min"``, ``"due"``."""
    if moment is None:
        return ""
    now = now or now_utc()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int((moment - now).total_seconds())
    if seconds <= 0:
        return "due now"
    if seconds < 60:
        return f"in {seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"in {minutes} min"
    return f"in {minutes // 60} h {minutes % 60} min"


def local_time(moment: datetime | None, *, with_date: bool = False, now: datetime | None = None) -> str:
    """Local wall-clock time; the date is added when it is not today (or when asked)."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone()
    today = (now or now_utc()).astimezone().date()
    if with_date or local.date() != today:
        return local.strftime("%Y-%m-%d %H:%M:%S")
    return local.strftime("%H:%M:%S")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


@overload
def tooltip_text(text: str) -> str: ...
@overload
def tooltip_text(text: None) -> None: ...
def tooltip_text(text: str | None) -> str | None:
    """A tooltip that shows ``text`` literally.

    Qt decides per tooltip whether it is rich text (``Qt::mightBeRichText``), so remote text such as
    ``VPN down <img src="/dev/zero">`` would be rendered and its image loaded. Escaping alone is not
    enough either: text without a tag would then show ``&lt;``. An escaped paragraph is always rich
    text, always shown literally, keeps its line breaks and wraps long lines.
    """
    if not text:
        return text
    return f'<p style="white-space:pre-wrap">{html.escape(text, quote=False)}</p>'


_MARKUP_LOOKALIKES = str.maketrans({"<": "‹", ">": "›", "&": "＆"})


def notification_text(text: str) -> str:
    """Text for a desktop notification, with no markup characters at all.

    Notification servers may interpret a subset of HTML in the body (freedesktop ``body-markup``:
    ``<b>``, ``<a href>``, ``<img src>``) and others show entities raw, so neither the raw text nor
    an escaped form is safe everywhere; ``< > &`` become look-alike characters instead.
    """
    return text.translate(_MARKUP_LOOKALIKES)


def incident_key(text: str) -> str:
    """What a person types for an incident: "10002", "inc10002" or "INC0010002" -> "INC0010002"."""
    key = text.strip()
    digits = key[3:] if key[:3].upper() == "INC" else key
    if digits.isdigit():
        return "INC" + digits.zfill(7)
    return key


def desk_user(config: AppConfig) -> str:
    """Who decides at this desk (recorded with every decision and claim): ``[desk] name``, else the
    operating-system user."""
    return desk_name(config)


def reviewing_text(names: Iterable[str]) -> str:
    """Who else has an item open: "anna is reviewing", "anna and bob are reviewing", "" for nobody."""
    people = list(dict.fromkeys(names))
    if not people:
        return ""
    if len(people) == 1:
        return f"{people[0]} is reviewing"
    return f"{', '.join(people[:-1])} and {people[-1]} are reviewing"
