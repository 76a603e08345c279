"""Ticket titles on links (the ``link.ticket_title`` column): refreshed from what the return trip reads.

A title is display text for the Links tab, never compared or sent anywhere, so it is written only
when it differs and in one short transaction per page of tickets.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.store.db import IMMEDIATE
from app.store.models import Link

_CHUNK = 500  # stay far below SQLite's bound-parameter limit


class LinkTitleStore:
    """Mixed into :class:`app.store.Store` (which provides ``engine``)."""

    engine: Engine

    def refresh_ticket_titles(self, titles: Mapping[int, str]) -> list[Link]:
        """Store each ticket's current title (ticket id -> title); returns the links that changed."""
        ids = sorted(titles)
        changed: list[Link] = []
        with Session(self.engine, expire_on_commit=False) as session:
            session.connection(execution_options={IMMEDIATE: True})
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                for link in session.exec(select(Link).where(col(Link.ticket_id).in_(chunk))).all():
                    title = titles[link.ticket_id]
                    if link.ticket_title != title:
                        link.ticket_title = title
                        session.add(link)
                        changed.append(link)
            session.commit()
        return changed
