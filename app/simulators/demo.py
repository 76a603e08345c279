"""The demo world: both simulators on loopback, a seeded backlog and a lively scenario.

Why: ``triage-sync --demo`` must show the whole product with no accounts, no network and no risk to
real data, so the demo's configuration points at the simulators and its store lives in a fresh
temporary folder that is removed on stop. ``triage-sync simulate`` (:func:`run_simulate`) serves
the same world for a separately started engine (headless runs, trying a config file) and prints
what to put in that config.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from app.config import AppConfig, parse_config
from app.simulators.autotask import AutotaskSimulator
from app.simulators.drills import DrillBoard, parse_fault_option
from app.simulators.scenario import SCENARIOS, Scenario
from app.simulators.servicenow import ServiceNowSimulator

if TYPE_CHECKING:
    from app.engine.factory import EngineSecrets

SERVICENOW_USER = "demo.integration"
SERVICENOW_PASSWORD = "demo"
AUTOTASK_USER = "demo@example.com"
AUTOTASK_INTEGRATION_CODE = "DEMO"
AUTOTASK_SECRET = "demo"
DEMO_COMPANY_ID = 174  # "Contoso Ltd" in the Autotask simulator
DEMO_DEFAULT_QUEUE = "Level I Support"
# Category -> Autotask queue label; the rest go to the default queue.
DEMO_QUEUE_MAP: dict[str, str] = {"network": "Level II Support", "database": "Level II Support"}
STORE_FILE = "triage-sync-demo.sqlite3"


def demo_config_data(servicenow_url: str, autotask_rest_base: str, store_url: str = "") -> dict[str, Any]:
    """The configuration (as TOML-shaped data) that points the app at the simulators."""
    data: dict[str, Any] = {
        "servicenow": {"url": servicenow_url, "username": SERVICENOW_USER, "poll_seconds": 5},
        "autotask": {
            "url": autotask_rest_base,
            # Zone discovery must never leave loopback in a demo, even if url is cleared later.
            "zone_lookup_url": autotask_rest_base,
            "username": AUTOTASK_USER,
            "integration_code": AUTOTASK_INTEGRATION_CODE,
            "poll_seconds": 10,
        },
        "outbound": {
            "company_id": DEMO_COMPANY_ID,
            "company_name": "Contoso Ltd",
            "default_queue": DEMO_DEFAULT_QUEUE,
            "fields": {
                "queueID": {
                    "rule": "value_map",
                    "source": "category",
                    "default": "@default_queue",
                    "map": dict(DEMO_QUEUE_MAP),
                }
            },
        },
    }
    if store_url:
        data["store"] = {"url": store_url}
    return data


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve().as_posix()}"


def _toml_value(value: Any) -> str:
    # JSON strings, integers and booleans are valid TOML for the simple values used here.
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def config_snippet(data: dict[str, Any]) -> str:
    """Render :func:`demo_config_data` as TOML a user can paste into a config file.

    A table holding only simple values becomes an inline table (``map = { ... }``); one holding
    tables becomes ``[a.b]`` sections, which is all the demo configuration needs."""
    lines: list[str] = []

    def is_inline(value: Any) -> bool:
        return not isinstance(value, dict) or not any(isinstance(v, dict) for v in value.values())

    def table(name: str, values: dict[str, Any]) -> None:
        inline = {k: v for k, v in values.items() if is_inline(v)}
        if inline:
            lines.append(f"[{name}]")
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in inline.items())
            lines.append("")
        for key, value in values.items():
            if key not in inline:
                table(f"{name}.{_toml_key(key)}", value)

    for section, values in data.items():
        table(section, values)
    return "\n".join(lines).rstrip() + "\n"


class DemoEnvironment:
    """Owns the simulators, the scenario and the throw-away store folder of one demo session."""

    def __init__(
        self,
        seed: int = 0,
        scenario: str = "lively",
        servicenow_port: int = 0,
        autotask_port: int = 0,
        store_dir: str | Path | None = None,
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; use one of {', '.join(SCENARIOS)}")
        self.seed = seed
        self.scenario_name = scenario
        self.servicenow_port = servicenow_port
        self.autotask_port = autotask_port
        self._given_store_dir = Path(store_dir) if store_dir is not None else None
        self.store_dir: Path | None = None
        self.servicenow: ServiceNowSimulator | None = None
        self.autotask: AutotaskSimulator | None = None
        self.scenario: Scenario | None = None
        self.config: AppConfig | None = None
        self._owns_store_dir = False

    @property
    def secrets(self) -> EngineSecrets:
        """The demo credentials, passed straight to the engine (never stored in the keyring)."""
        from app.engine.factory import EngineSecrets
        from app.secrets import Secret

        return EngineSecrets(
            servicenow_password=Secret(SERVICENOW_PASSWORD), autotask_secret=Secret(AUTOTASK_SECRET)
        )

    @property
    def running(self) -> bool:
        return self.config is not None

    @property
    def drills(self) -> DrillBoard:
        """Outage drills on the running simulators (the demo's Simulator menu)."""
        if self.servicenow is None or self.autotask is None:
            raise RuntimeError("the demo environment is not running")
        return DrillBoard({"servicenow": self.servicenow.faults, "autotask": self.autotask.faults})

    def start(self) -> AppConfig:
        """Serve both simulators, seed a backlog, start the scenario; return the demo configuration."""
        if self.config is not None:
            raise RuntimeError("the demo environment is already running")
        try:
            self.servicenow = ServiceNowSimulator(seed=self.seed)
            self.autotask = AutotaskSimulator(seed=self.seed)
            self.scenario = Scenario(
                self.servicenow, self.autotask, random.Random(self.seed), self.scenario_name
            )
            sn_url = self.servicenow.start(port=self.servicenow_port)
            self.autotask.start(port=self.autotask_port)
            if self._given_store_dir is not None:
                self._given_store_dir.mkdir(parents=True, exist_ok=True)
                self.store_dir = self._given_store_dir
            else:
                self.store_dir = Path(tempfile.mkdtemp(prefix="triage-sync-demo-"))
                self._owns_store_dir = True
            data = demo_config_data(sn_url, self.autotask.rest_base, sqlite_url(self.store_dir / STORE_FILE))
            config = parse_config(data, "demo environment")
            self.scenario.seed()
            self.scenario.seed_duplicates()
            self.scenario.start()
        except BaseException:
            self.stop()
            raise
        self.config = config
        return config

    def stop(self) -> None:
        """Stop everything started; safe to call twice or after a failed start."""
        scenario, self.scenario = self.scenario, None
        if scenario is not None:
            scenario.stop()
        for simulator in (self.servicenow, self.autotask):
            if simulator is not None:
                simulator.stop()
        self.servicenow = None
        self.autotask = None
        if self._owns_store_dir and self.store_dir is not None:
            shutil.rmtree(self.store_dir, ignore_errors=True)
        self._owns_store_dir = False
        self.store_dir = None
        self.config = None

    def __enter__(self) -> DemoEnvironment:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_simulate(
    seed: int,
    scenario: str,
    servicenow_port: int,
    autotask_port: int,
    stop: threading.Event | None = None,
    *,
    out: TextIO | None = None,
    faults: Sequence[str] = (),
) -> int:
    """``triage-sync simulate``: serve the simulators with a scenario until Ctrl+C, SIGTERM or
    ``stop``; print URLs, credentials, a config snippet and each scenario action. ``faults``:
    outage drills to start with, as ``SYSTEM=DRILL``. Returns 0 (2 for bad arguments)."""
    stream = out if out is not None else sys.stdout
    stop = stop if stop is not None else threading.Event()
    if scenario not in SCENARIOS:
        print(f"unknown scenario {scenario!r}; use one of {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    try:
        drills = [parse_fault_option(text) for text in faults]
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    store_dir = Path(tempfile.mkdtemp(prefix="triage-sync-simulate-"))
    servicenow = ServiceNowSimulator(seed=seed)
    autotask = AutotaskSimulator(seed=seed)
    world = Scenario(servicenow, autotask, random.Random(seed), scenario)
    restore = _install_sigterm(stop)
    try:
        try:
            sn_url = servicenow.start(port=servicenow_port)
            autotask.start(port=autotask_port)
        except OSError as exc:
            print(f"cannot start the simulators: {exc} (is the port in use?)", file=sys.stderr)
            return 1
        world.seed()
        world.seed_duplicates()
        data = demo_config_data(sn_url, autotask.rest_base, sqlite_url(store_dir / STORE_FILE))
        board = DrillBoard({"servicenow": servicenow.faults, "autotask": autotask.faults})
        running = [board.apply(system, drill) for system, drill in drills]
        _print_banner(stream, sn_url, autotask.rest_base, scenario, seed, config_snippet(data), running)
        world.start()
        shown = 0
        try:
            while True:
                shown = _print_actions(stream, world, shown)
                if stop.wait(0.5):
                    break
        except KeyboardInterrupt:
            pass
        _print_actions(stream, world, shown)
        print("Simulators stopped.", file=stream, flush=True)
        return 0
    finally:
        world.stop()
        servicenow.stop()
        autotask.stop()
        restore()
        shutil.rmtree(store_dir, ignore_errors=True)


def _print_banner(
    stream: TextIO, sn_url: str, at_base: str, scenario: str, seed: int, snippet: str, drills: list[str]
) -> None:
    running = "".join(f"{line}\n" for line in drills)
    text = f"""Triage Sync simulators running (scenario {scenario!r}, seed {seed}).

ServiceNow  {sn_url}
            user {SERVICENOW_USER}, password {SERVICENOW_PASSWORD}
Autotask    {at_base}
            user {AUTOTASK_USER}, integration code {AUTOTASK_INTEGRATION_CODE}, \
secret {AUTOTASK_SECRET}

Configuration for these simulators (save as a .toml file and pass it with --config; the store
below is a throw-away folder removed when the simulators stop). Secrets for a headless run:
  SERVICENOW_PASSWORD={SERVICENOW_PASSWORD} AUTOTASK_SECRET={AUTOTASK_SECRET}

# ---- 8< ----
{snippet}# ---- 8< ----

Outage drills (docs/simulators.md): POST a fault as JSON to {sn_url}/_sim/faults or
{at_base.removesuffix("/atservicesrest")}/_sim/faults, GET lists them, DELETE clears them; or start with
--fault servicenow=outage (outage, storm, auth, slow).
{running}
Press Ctrl+C to stop.
"""
    print(text, file=stream, flush=True)


def _print_actions(stream: TextIO, world: Scenario, shown: int) -> int:
    actions = world.actions[shown:]
    for action in actions:
        print(f"  {action.at:8.1f}s  {action.kind:<22} {action.target:<18} {action.detail}", file=stream)
    if actions:
        stream.flush()
    return shown + len(actions)


def _install_sigterm(stop: threading.Event) -> Any:
    """SIGTERM sets ``stop`` (only the main thread may install handlers); returns the undo."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
