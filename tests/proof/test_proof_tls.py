"""TLS verification is on in both clients; plain HTTP is refused for every non-loopback host."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from app.config import ConfigError, parse_config
from app.connectors.autotask import AutotaskClient
from app.connectors.servicenow import ServiceNowClient
from app.secrets import Secret


def _context(client: Any) -> ssl.SSLContext:
    transport = client._http._transport
    return transport._pool._ssl_context  # type: ignore[no-any-return]


async def test_both_clients_verify_certificates_and_host_names() -> None:
    sn = ServiceNowClient(base_url="https://example.service-now.com", username="u", password=Secret("p"))
    at = AutotaskClient(
        username="u",
        integration_code="c",
        secret=Secret("s"),
        base_url="https://webservices5.autotask.net/atservicesrest",
    )
    try:
        for client in (sn, at):
            context = _context(client)
            assert context.verify_mode == ssl.CERT_REQUIRED
            assert context.check_hostname
    finally:
        await sn.aclose()
        await at.aclose()


@pytest.mark.parametrize("section", ["servicenow", "autotask"])
@pytest.mark.parametrize(
    "url",
    [
        "http://example.service-now.com",
        "http://10.0.0.5:8080",
        "http://[2001:db8::1]",
        "http://127.0.0.1.nip.io",
    ],
)
def test_plain_http_is_refused_for_non_loopback_hosts(section: str, url: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({section: {"url": url}}, "t.toml")
    assert f"{section}.url" in str(err.value) and "https" in str(err.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:9", "http://[::1]:80"])
def test_plain_http_is_allowed_for_the_loopback_simulators(url: str) -> None:
    assert parse_config({"servicenow": {"url": url}}, "t.toml").servicenow.url == url
