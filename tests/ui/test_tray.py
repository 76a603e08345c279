"""Tray notifications are rate-limited and summarised."""

from __future__ import annotations

from app.ui.tray import NotificationThrottle


def test_at_most_one_notification_per_interval_with_summary() -> None:
    now = [1000.0]
    throttle = NotificationThrottle(interval=30, clock=lambda: now[0])
    assert throttle.take() is None  # nothing to say
    throttle.add_queued(3)
    first = throttle.take()
    assert first == ("Triage Sync", "3 incidents newly queued", False)
    throttle.add_queued(2)
    throttle.add_failure("INC0000009: queueID invalid")
    now[0] += 10
    assert throttle.take() is None  # too soon
    throttle.add_queued(1)
    now[0] += 25
    title, body, error = throttle.take() or ("", "", False)
    assert error and title == "Triage Sync: problems"
    assert body == "1 failure: INC0000009: queueID invalid\n3 incidents newly queued"
