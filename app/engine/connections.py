"""Build connector clients from configuration and test connections with unsaved settings."""

from __future__ import annotations

from app.config import AutotaskConfig, ReturnTripConfig, ServiceNowConfig
from app.connectors.autotask import AutotaskClient
from app.connectors.budget import RequestBudget
from app.connectors.errors import AuthFailed, Rejected
from app.connectors.servicenow import ServiceNowClient
from app.domain.return_trip import close_code_problems
from app.secrets import Secret


def servicenow_client(
    cfg: ServiceNowConfig, password: Secret | None, client_secret: Secret | None = None
) -> ServiceNowClient:
    if not cfg.url:
        raise AuthFailed("servicenow", "no instance URL configured (servicenow.url)")
    if password is None:
        raise AuthFailed(
            "servicenow",
            "no password stored: save it in Settings (OS keyring) or set SERVICENOW_PASSWORD",
        )
    return ServiceNowClient(
        base_url=cfg.url,
        username=cfg.username,
        password=password,
        auth=cfg.auth,
        client_id=cfg.client_id,
        client_secret=client_secret,
        timeout=cfg.timeout_seconds,
        page_size=cfg.page_size,
    )


def autotask_client(cfg: AutotaskConfig, secret: Secret | None) -> AutotaskClient:
    if secret is None:
        raise AuthFailed(
            "autotask", "no API secret stored: save it in Settings (OS keyring) or set AUTOTASK_SECRET"
        )
    return AutotaskClient(
        username=cfg.username,
        integration_code=cfg.integration_code,
        secret=secret,
        base_url=cfg.url,
        zone_lookup_url=cfg.zone_lookup_url,
        timeout=cfg.timeout_seconds,
        max_concurrency=cfg.max_concurrency,
        budget=RequestBudget(hourly_limit=cfg.hourly_request_limit, share=cfg.budget_share),
    )


async def check_close_codes(client: ServiceNowClient, return_trip: ReturnTripConfig, connected: str) -> str:
    """``connected`` when every configured close code is one of the instance's (sys_choice); else
    a refusal that names the code and the instance's list."""
    problems = close_code_problems(return_trip, await client.close_codes())
    if problems:
        raise Rejected("servicenow", f"{connected}, but " + "; ".join(problems))
    return connected


async def test_servicenow(
    cfg: ServiceNowConfig,
    password: Secret | None,
    client_secret: Secret | None = None,
    return_trip: ReturnTripConfig | None = None,
) -> str:
    """One cheap, real API call with these (possibly unsaved) settings; with ``return_trip`` also
    the configured close codes against the instance's own (one more read)."""
    async with servicenow_client(cfg, password, client_secret) as client:
        message = await client.test_connection()
        if return_trip is not None:
            message = await check_close_codes(client, return_trip, message)
        return message


async def test_autotask(cfg: AutotaskConfig, secret: Secret | None) -> str:
    async with autotask_client(cfg, secret) as client:
        return await client.test_connection()
