"""Zone discovery is not trusted blindly: a ``zoneInformation`` answer naming another host would
receive the API secret and integration code (and its ``webUrl`` is opened in the browser).

The answer's ``url`` must be https (plain http only on loopback), carry no user-info, and be on
Autotask's own domain (``*.autotask.net``) or on the host of the lookup URL the user configured.
"""

from __future__ import annotations

import httpx
import pytest

from app.connectors.autotask import DEFAULT_ZONE_LOOKUP_URL, AutotaskClient
from app.connectors.errors import UnexpectedResponse
from app.connectors.retry import RetryPolicy
from app.secrets import Secret

SECRET = "zone-test-secret-value"
CODE = "ZONE-TEST-CODE"


class FakeAutotask:
    """The real lookup host answers with ``zone``; every request is recorded by host."""

    def __init__(self, zone: dict[str, str]) -> None:
        self.zone = zone
        self.hosts: list[str] = []
        self.secrets_sent_to: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        if request.headers.get("Secret") == SECRET:
            self.secrets_sent_to.add(request.url.host)
        if request.url.path.endswith("/zoneInformation"):
            return httpx.Response(200, json=self.zone)
        if request.url.path.lower().endswith("/tickets/7"):
            return httpx.Response(200, json={"item": None})
        return httpx.Response(404, json={"errors": ["not here"]})


def client(fake: FakeAutotask, lookup: str = DEFAULT_ZONE_LOOKUP_URL) -> AutotaskClient:
    return AutotaskClient(
        username="api@example.com",
        integration_code=CODE,
        secret=Secret(SECRET),
        zone_lookup_url=lookup,
        retry=RetryPolicy(attempts=1, base_delay=0, max_delay=0),
        transport=httpx.MockTransport(fake),
    )


@pytest.mark.parametrize(
    "zone_url",
    [
        "http://attacker.example/atservicesrest",
        "https://attacker.example/atservicesrest",
        "http://webservices5.autotask.net/atservicesrest",  # plain http
        "https://webservices5.autotask.net.attacker.example/atservicesrest",
        "https://evilautotask.net/atservicesrest",
        "https://user:pw@webservices5.autotask.net/atservicesrest",
        "javascript:alert(1)",
        "//webservices5.autotask.net/atservicesrest",
    ],
)
async def test_untrusted_zone_url_is_refused_before_any_credential_leaves(zone_url: str) -> None:
    fake = FakeAutotask({"zoneName": "Z", "url": zone_url, "webUrl": "https://ww5.autotask.net"})
    async with client(fake) as at:
        with pytest.raises(UnexpectedResponse) as exc:
            await at.get_ticket(7)
    assert "zone" in exc.value.message and "not trusted" in exc.value.message
    assert "pw" not in exc.value.message
    assert fake.hosts == ["webservices.autotask.net"]  # the lookup only
    assert fake.secrets_sent_to == set()


@pytest.mark.parametrize(
    ("web_url", "kept"),
    [
        ("http://evil.example", ""),
        ("javascript:alert(1)", ""),
        ("https://ww5.autotask.net/", "https://ww5.autotask.net/"),
    ],
)
async def test_autotask_zone_is_accepted_and_only_a_trusted_web_url_kept(web_url: str, kept: str) -> None:
    zone = {"zoneName": "Z5", "url": "https://webservices5.autotask.net/ATServicesRest/", "webUrl": web_url}
    fake = FakeAutotask(zone)
    async with client(fake) as at:
        assert await at.get_ticket(7) is None  # the request reached the zone
        assert at.zone is not None
        assert at.zone.rest_base == "https://webservices5.autotask.net/ATServicesRest"
        assert at.zone.web_url == kept  # a hostile one is never opened in a browser
    assert fake.secrets_sent_to == {"webservices5.autotask.net"}


async def test_zone_on_the_configured_lookup_host_is_trusted() -> None:
    """A lookup URL the user configured (a proxy, the simulator) vouches for its own host."""
    fake = FakeAutotask({"zoneName": "Z", "url": "https://psa-proxy.example.org/atservicesrest"})
    async with client(fake, lookup="https://psa-proxy.example.org/atservicesrest") as at:
        await at.get_ticket(7)
    assert fake.secrets_sent_to == {"psa-proxy.example.org"}
