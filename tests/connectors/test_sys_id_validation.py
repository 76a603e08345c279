"""A sys_id is 32 hexadecimal characters wherever it builds a path or a query: anything else
(``../sys_user``, ``x^ORactive=true``) is refused before a request is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.connectors.errors import Rejected
from app.connectors.retry import RetryPolicy
from app.connectors.servicenow import ServiceNowClient
from app.domain.records import is_sys_id
from app.secrets import Secret
from app.simulators.servicenow import ServiceNowSimulator

HOSTILE = [
    "../sys_user/6816f79cc0a8016401c5a33be04be441",
    "6816f79cc0a8016401c5a33be04be441^ORactive=true",
    "6816f79cc0a8016401c5a33be04be44",  # 31
    "6816f79cc0a8016401c5a33be04be441?sysparm_fields=password",
    "",
    "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
]


@pytest.fixture(scope="module")
def sim() -> Iterator[ServiceNowSimulator]:
    with ServiceNowSimulator(seed=9) as simulator:
        yield simulator


def test_is_sys_id() -> None:
    assert is_sys_id("6816f79cc0a8016401c5a33be04be441")
    assert is_sys_id("6816F79CC0A8016401C5A33BE04BE441")
    assert not any(is_sys_id(value) for value in HOSTILE)
    assert not is_sys_id("6816f79cc0a8016401c5a33be04be441\n")


@pytest.mark.parametrize("sys_id", HOSTILE)
async def test_hostile_sys_id_never_reaches_a_path_or_query(sim: ServiceNowSimulator, sys_id: str) -> None:
    sent: list[tuple[str, str]] = []
    async with ServiceNowClient(
        base_url=sim.base_url,
        username="demo.integration",
        password=Secret("demo"),
        retry=RetryPolicy(attempts=1),
        on_request=lambda method, path: sent.append((method, path)),
    ) as client:
        for call in (
            client.get_incident(sys_id),
            client.update_incident(sys_id, {"state": "2"}),
            client.add_work_note(sys_id, "note"),
            client.work_notes(sys_id),
        ):
            with pytest.raises(Rejected, match="sys_id"):
                await call
    assert sent == []
