"""The demo environment and ``triage-sync simulate``: real loopback HTTP, demo credentials."""

from __future__ import annotations

import io
import re
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import AppConfig, ValueMapRule, parse_config
from app.simulators.demo import DemoEnvironment, run_simulate

SN_AUTH = ("demo.integration", "demo")
AT_HEADERS = {"ApiIntegrationCode": "DEMO", "UserName": "demo@example.com", "Secret": "demo"}


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoEnvironment]:
    """One running demo for the read-only checks (start/stop costs a few tenths of a second)."""
    env = DemoEnvironment(seed=3)
    env.start()
    yield env
    env.stop()


def test_start_returns_the_demo_config(demo: DemoEnvironment) -> None:
    config = demo.config
    assert isinstance(config, AppConfig)
    assert demo.servicenow is not None and demo.autotask is not None
    assert config.servicenow.url == demo.servicenow.base_url
    assert config.servicenow.username == "demo.integration"
    assert config.servicenow.poll_seconds == 5
    assert config.autotask.url == demo.autotask.rest_base
    assert config.autotask.username == "demo@example.com"
    assert config.autotask.integration_code == "DEMO"
    assert config.autotask.poll_seconds == 10
    assert config.outbound.company_id == 174
    assert config.outbound.default_queue == "Level I Support"
    queue = config.outbound.fields["queueID"]
    assert isinstance(queue, ValueMapRule) and queue.map["network"] == "Level II Support"
    assert demo.store_dir is not None and demo.store_dir.is_dir()
    assert config.store.url.startswith("sqlite:///")
    assert config.store.url.endswith(f"{demo.store_dir.as_posix()}/triage-sync-demo.sqlite3")


def test_secrets_are_the_demo_credentials(demo: DemoEnvironment) -> None:
    secrets = demo.secrets
    assert secrets.servicenow_password is not None and secrets.servicenow_password.reveal() == "demo"
    assert secrets.autotask_secret is not None and secrets.autotask_secret.reveal() == "demo"
    assert "demo" not in repr(secrets)


def test_servicenow_answers_with_the_demo_credentials(demo: DemoEnvironment) -> None:
    assert demo.config is not None
    url = f"{demo.config.servicenow.url}/api/now/table/incident"
    with httpx.Client(timeout=5) as client:
        response = client.get(url, auth=SN_AUTH, params={"sysparm_fields": "number,category"})
        assert response.status_code == 200
        assert len(response.json()["result"]) >= 8  # the seeded backlog
        assert client.get(url, auth=("demo.integration", "wrong")).status_code == 401


def test_autotask_answers_with_the_demo_credentials(demo: DemoEnvironment) -> None:
    assert demo.config is not None
    base = demo.config.autotask.url
    with httpx.Client(timeout=5) as client:
        response = client.get(f"{base}/v1.0/ThresholdInformation", headers=AT_HEADERS)
        assert response.status_code == 200
        assert response.json()["externalRequestThreshold"] == 10000
        query = {"filter": [{"op": "exist", "field": "id"}]}
        tickets = client.post(f"{base}/v1.0/Tickets/query", headers=AT_HEADERS, json=query)
        assert tickets.status_code == 200 and tickets.json()["items"]  # unlinked seed tickets
        assert client.get(f"{base}/v1.0/ThresholdInformation").status_code == 401


def test_scenario_runs_in_the_background(demo: DemoEnvironment) -> None:
    assert demo.scenario is not None and demo.scenario.running
    assert demo.scenario.name == "lively"


def test_stop_cleans_up_and_is_idempotent() -> None:
    env = DemoEnvironment(seed=1, scenario="quiet")
    config = env.start()
    store_dir = env.store_dir
    assert store_dir is not None
    (store_dir / "triage-sync-demo.sqlite3").write_bytes(b"")  # as if the engine had used it
    with pytest.raises(RuntimeError):
        env.start()
    env.stop()
    assert not store_dir.exists()
    assert env.config is None and not env.running
    env.stop()
    with httpx.Client(timeout=2) as client, pytest.raises(httpx.TransportError):
        client.get(f"{config.servicenow.url}/api/now/table/incident", auth=SN_AUTH)


def test_given_store_dir_is_kept(tmp_path: Path) -> None:
    with DemoEnvironment(seed=2, scenario="quiet", store_dir=tmp_path / "demo") as env:
        assert env.config is not None
        assert env.config.store.url.endswith("/demo/triage-sync-demo.sqlite3")
    assert (tmp_path / "demo").is_dir()


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="lively"):
        DemoEnvironment(scenario="chaotic")


class _Watched(io.StringIO):
    """Captures output and signals once the banner is complete, so the test never sleeps."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if "Press Ctrl+C" in self.getvalue():
            self.ready.set()
        return written


def test_run_simulate_prints_urls_and_returns_0_when_stopped() -> None:
    out = _Watched()
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(run_simulate(5, "busy", 0, 0, stop, out=out)), daemon=True
    )
    thread.start()
    try:
        assert out.ready.wait(10), out.getvalue()
        text = out.getvalue()
        for word in ("demo.integration", "password demo", "demo@example.com", "integration code DEMO"):
            assert word in text
        sn_url = re.search(r"ServiceNow\s+(http://127\.0\.0\.1:\d+)", text)
        at_url = re.search(r"Autotask\s+(http://127\.0\.0\.1:\d+/atservicesrest)", text)
        assert sn_url and at_url
        snippet = text.split("# ---- 8< ----")[1]
        config = parse_config(tomllib.loads(snippet), "snippet")
        assert config.servicenow.url == sn_url.group(1)
        assert config.autotask.url == at_url.group(1)
        with httpx.Client(timeout=5) as client:
            incidents = client.get(f"{sn_url.group(1)}/api/now/table/incident", auth=SN_AUTH)
            assert incidents.status_code == 200 and incidents.json()["result"]
            threshold = client.get(f"{at_url.group(1)}/v1.0/ThresholdInformation", headers=AT_HEADERS)
            assert threshold.status_code == 200
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert result == [0]
    assert "Simulators stopped." in out.getvalue()


def test_run_simulate_in_the_main_thread_restores_sigterm() -> None:
    import signal

    before = signal.getsignal(signal.SIGTERM)
    stop = threading.Event()
    stop.set()
    out = io.StringIO()
    assert run_simulate(0, "quiet", 0, 0, stop, out=out) == 0
    assert signal.getsignal(signal.SIGTERM) is before
    assert "ServiceNow  http://127.0.0.1:" in out.getvalue()


def test_run_simulate_refuses_an_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_simulate(0, "chaotic", 0, 0, threading.Event()) == 2
    assert "unknown scenario" in capsys.readouterr().err


def test_run_simulate_starts_with_a_fault_and_the_fault_endpoint_changes_it() -> None:
    """``simulate --fault servicenow=outage``: ServiceNow answers 503 from the start; the documented
    fault endpoint lists the drill, clears it (DELETE) and takes a new fault as JSON (POST)."""
    out = _Watched()
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            run_simulate(1, "quiet", 0, 0, stop, out=out, faults=["servicenow=outage", "autotask=slow"])
        ),
        daemon=True,
    )
    thread.start()
    try:
        assert out.ready.wait(10), out.getvalue()
        text = out.getvalue()
        assert "Drill: ServiceNow — every request fails with 503" in text
        assert "Drill: Autotask — every answer takes 3 s longer" in text
        sn_url = re.search(r"ServiceNow\s+(http://127\.0\.0\.1:\d+)", text)
        assert sn_url
        base = sn_url.group(1)
        with httpx.Client(timeout=5) as client:
            refused = client.get(f"{base}/api/now/table/incident", auth=SN_AUTH)
            assert refused.status_code == 503
            assert refused.json()["error"]["message"] == "Service Unavailable (outage drill)"
            [listed] = client.get(f"{base}/_sim/faults").json()["faults"]
            assert (listed["kind"], listed["status"], listed["count"]) == ("status", 503, None)
            assert client.delete(f"{base}/_sim/faults").status_code == 204
            assert client.get(f"{base}/api/now/table/incident", auth=SN_AUTH).status_code == 200
            storm = {"kind": "status", "status": 429, "retry_after": 30, "count": 1}
            assert client.post(f"{base}/_sim/faults", json=storm).status_code == 201
            limited = client.get(f"{base}/api/now/table/incident", auth=SN_AUTH)
            assert (limited.status_code, limited.headers["retry-after"]) == (429, "30")
            assert client.post(f"{base}/_sim/faults", json={"kind": "nonsense!", "x": 1}).status_code == 400
    finally:
        stop.set()
        thread.join(10)
    assert result == [0]


def test_run_simulate_refuses_an_unknown_fault(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_simulate(0, "quiet", 0, 0, threading.Event(), faults=["servicenow=meteor"]) == 2
    assert "bad fault 'servicenow=meteor': use SYSTEM=DRILL" in capsys.readouterr().err
