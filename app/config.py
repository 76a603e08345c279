"""Typed, validated configuration: a TOML file layered over the shipped default, plus secrets.

Resolution order of the file: ``--config PATH``, else ``$TRIAGE_SYNC_CONFIG``, else
``<platformdirs user config dir>/config.toml``. Every key the user leaves out takes its value from
``resources/default-config.toml``. Secrets never live in the file: they come from the OS keyring or,
for headless runs, from the environment (``SERVICENOW_PASSWORD``, ``SERVICENOW_CLIENT_SECRET``,
``AUTOTASK_SECRET``, ``AUTOTASK_WEBHOOK_SECRET``).

Errors name the file, the key and what is expected, e.g.
``config.toml: autotask.poll_seconds: must be >= 10, got 0``.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app import APP_NAME
from app.domain.records import INCIDENT_FIELDS, TEMPLATE_FIELDS
from app.domain.text import TemplateError, template_fields
from app.resources import resource_path

CONFIG_ENV = "TRIAGE_SYNC_CONFIG"
DEFAULT_CONFIG_RESOURCE = "default-config.toml"


class ConfigError(Exception):
    """A configuration problem, with one line per problem that names the file and the key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def hide_password(url: str) -> str:
    """``scheme://user:***@host/...``: the URL with any password masked (safe to show and log)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:authority_end], rest[authority_end:]
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}{tail}"


# Where the credential goes instead of a URL's user-info, per API URL section.
CREDENTIAL_HOMES = {
    "servicenow": "the user in servicenow.username and the password in the OS keyring (Settings) "
    "or SERVICENOW_PASSWORD",
    "autotask": "the API user in autotask.username and the secret in the OS keyring (Settings) "
    "or AUTOTASK_SECRET",
}


def check_url(value: str, *, allow_empty: bool = False, section: str = "servicenow") -> str:
    """HTTPS everywhere; plain HTTP only for loopback hosts (the embedded simulators); never a user
    name or password inside the URL (it would be printed and logged with it)."""
    value = value.strip().rstrip("/")
    if not value:
        if allow_empty:
            return value
        raise ValueError("must be set (e.g. https://example.service-now.com)")
    parts = urlsplit(value)
    shown = hide_password(value)
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"must not contain a user name or password (user:password@); put {CREDENTIAL_HOMES[section]}"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) URL like https://host, got {shown!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(f"plain http:// is refused for {parts.hostname}; use https:// (got {shown!r})")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceNowConfig(_Section):
    url: str = ""
    username: str = ""
    auth: Literal["basic", "oauth"] = "basic"
    client_id: str = ""
    poll_seconds: Annotated[int, Field(ge=5, le=86400)] = 60
    initial_lookback_hours: Annotated[float, Field(ge=0, le=24 * 365)] = 24
    page_size: Annotated[int, Field(ge=1, le=10000)] = 500
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value, allow_empty=True)

    @model_validator(mode="after")
    def _oauth_needs_client(self) -> ServiceNowConfig:
        if self.auth == "oauth" and not self.client_id:
            raise ValueError("client_id: must be set when auth = 'oauth'")
        return self


class AutotaskConfig(_Section):
    url: str = ""  # zone REST base, e.g. https://webservices5.autotask.net/atservicesrest; empty: discover
    zone_lookup_url: str = "https://webservices.autotask.net/atservicesrest"
    username: str = ""
    integration_code: str = ""
    poll_seconds: Annotated[int, Field(ge=10, le=86400)] = 60
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30
    max_concurrency: Annotated[int, Field(ge=1, le=3)] = 3
    hourly_request_limit: Annotated[int, Field(ge=100)] = 10000
    # Our share of the tenant-wide hourly limit (other integrations use the same database budget).
    budget_share: Annotated[float, Field(gt=0, le=1)] = 0.5
    # How long the tenant's picklists (statuses, queues, issue types...) kept in the store are used
    # before they are read again; a refused value or an unknown id re-reads them at once.
    picklist_ttl_seconds: Annotated[int, Field(ge=60, le=86400)] = 3600
    web_url: str = ""  # for "open in browser", e.g. https://ww5.autotask.net

    @field_validator("url", "zone_lookup_url", "web_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value, allow_empty=True, section="autotask")


class PollingConfig(_Section):
    """How polls guard against records they cannot see yet (DESIGN "Polling without loss")."""

    # Each poll re-reads this far behind its watermark: stamps are taken when a transaction
    # starts, and a slow business rule, workflow or import commits it minutes later.
    overlap_minutes: Annotated[float, Field(ge=0, le=1440)] = 5
    # How often the reconciliation pass looks for trigger-matching incidents that are neither
    # linked nor queued, and for linked tickets whose changes never came back, whatever the watermark.
    reconcile_minutes: Annotated[float, Field(ge=1, le=7 * 1440)] = 60


STORE_PASSWORD_HOME = (
    "keep the user in the URL (e.g. postgresql://triage@db.example/triage) and put the password in "
    "TRIAGE_SYNC_DB_PASSWORD or the OS keyring (triage-sync store password)"
)


def check_store_url(value: str) -> str:
    """A database URL may name a user; its password never lives in the file (printed, copied,
    committed to config repositories): it comes from the keyring or TRIAGE_SYNC_DB_PASSWORD."""
    value = value.strip()
    scheme, separator, rest = value.partition("://")
    if not separator:
        return value  # not a URL with an authority: the store reports what it is
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    userinfo = authority.rpartition("@")[0]
    query = parse_qs(urlsplit(value).query)
    if ":" in userinfo or "password" in query:
        raise ValueError(
            f"must not contain a password (the file is no place for it); {STORE_PASSWORD_HOME}; "
            f"got {hide_password(value.split('?', 1)[0])!r}"
        )
    return value


class StoreConfig(_Section):
    url: str = ""  # SQLAlchemy URL; empty: SQLite file in the user data dir
    # False: never change a database's schema on start (a shared server an administrator migrates
    # with `triage-sync store migrate`); an older schema then stops the app with that instruction.
    auto_migrate: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_store_url(value)


# ---- trigger -------------------------------------------------------------------------------------

TriggerOp = Literal["equals", "not_equals", "in", "not_in", "is_empty", "not_empty"]


class TriggerCondition(_Section):
    field: str
    op: TriggerOp
    value: str | None = None
    values: list[str] | None = None

    @field_validator("field")
    @classmethod
    def _field_name(cls, value: str) -> str:
        if not value or not all(ch.isalnum() or ch == "_" for ch in value):
            raise ValueError(f"must be a ServiceNow column name (letters, digits, _), got {value!r}")
        return value

    @model_validator(mode="after")
    def _operands(self) -> TriggerCondition:
        if self.op in ("equals", "not_equals") and self.value is None:
            raise ValueError(f"op '{self.op}' needs 'value'")
        if self.op in ("in", "not_in") and not self.values:
            raise ValueError(f"op '{self.op}' needs a non-empty 'values' list")
        return self


class TriggerConfig(_Section):
    description: str = ""
    conditions: list[TriggerCondition] = []
    require_unlinked: bool = True


# ---- outbound mapping ----------------------------------------------------------------------------


class CopyRule(_Section):
    rule: Literal["copy"]
    source: str
    max_length: int | None = None


class TemplateRule(_Section):
    rule: Literal["template"]
    template: str
    max_length: int | None = None


class ValueMapRule(_Section):
    rule: Literal["value_map"]
    source: str
    map: dict[str, str] = {}
    # Used when the source value is not in the map; None -> warning and field left out.
    # For queueID the special value "@default_queue" means outbound.default_queue.
    default: str | None = None


class ConstantRule(_Section):
    rule: Literal["constant"]
    value: str | int


class DueInHoursRule(_Section):
    rule: Literal["due_in_hours"]
    by: str = "priority"  # the *target* field whose label picks the offset
    hours: dict[str, float] = {}
    default_hours: float = 24


FieldRule = Annotated[
    CopyRule | TemplateRule | ValueMapRule | ConstantRule | DueInHoursRule,
    Field(discriminator="rule"),
]


class OutboundConfig(_Section):
    company_id: Annotated[int, Field(ge=0)] = 0
    company_name: str = ""  # shown in the preview instead of the bare id
    default_queue: str = ""
    push_concurrency: Annotated[int, Field(ge=1, le=3)] = 3
    freshness_seconds: Annotated[float, Field(ge=0)] = 60
    auto_push: bool = False
    fields: dict[str, FieldRule] = {}


class DuplicatesConfig(_Section):
    """Suspected duplicates (app.domain.duplicates): similar short description, same caller or CI,
    opened within ``window_hours`` of each other. Auto-push leaves a suspect for a person."""

    enabled: bool = True
    window_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 4
    # Share of meaningful words two short descriptions must have in common (0.5: half of them).
    min_similarity: Annotated[float, Field(gt=0, le=1)] = 0.5


# ---- return trip ---------------------------------------------------------------------------------


class StatusTarget(_Section):
    state: int
    hold_reason: str | None = None
    close_code: str | None = None
    # Where close_notes come from: the ticket's resolution when set, else default_close_notes.
    close_notes_from_resolution: bool = True

    @field_validator("state")
    @classmethod
    def _state(cls, value: int) -> int:
        if value not in (1, 2, 3, 6, 7, 8):
            raise ValueError(f"must be a ServiceNow incident state (1,2,3,6,7,8), got {value}")
        return value


class PriorityTarget(_Section):
    impact: Annotated[int, Field(ge=1, le=3)]
    urgency: Annotated[int, Field(ge=1, le=3)]


class ReturnTripConfig(_Section):
    enabled: bool = True
    default_close_code: str = "Solution provided"
    default_close_notes: str = "Resolved in Autotask ticket {ticket_number}."
    status: dict[str, StatusTarget] = {}
    priority: dict[str, PriorityTarget] = {}


class WebhookConfig(_Section):
    """The optional webhook fast path. The Autotask signing secret is never in the file: it comes
    from ``AUTOTASK_WEBHOOK_SECRET`` or the OS keyring."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8765  # 0: the OS picks a free port
    # Host header values accepted besides this machine's own names (a reverse proxy's public name).
    allowed_hosts: list[str] = []
    max_pending_ids: Annotated[int, Field(ge=1, le=100_000)] = 500
    reads_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 120
    max_connections: Annotated[int, Field(ge=1, le=1000)] = 32
    header_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.strip()
        if value == "localhost":
            return value
        try:
            address = ipaddress.IPv4Address(value)
        except ValueError:
            raise ValueError(
                f"must be an IPv4 address to listen on, e.g. 127.0.0.1 (loopback), got {value!r}"
            ) from None
        if address.is_unspecified:
            raise ValueError(
                "must be an explicit address, not 0.0.0.0 (every interface); "
                "use 127.0.0.1 behind a reverse proxy or the one interface to listen on"
            )
        return value


DESK_NAME_MAX = 40  # the store's decided_by / claim columns


class DeskConfig(_Section):
    """Who works at this desk: the name on claims ("anna is reviewing"), decisions and the audit."""

    name: str = ""  # empty: the operating-system user

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) > DESK_NAME_MAX:
            raise ValueError(f"at most {DESK_NAME_MAX} characters, got {len(value)}")
        return value


def desk_name(config: AppConfig | None = None) -> str:
    """This desk's name: ``[desk] name``, else the operating-system user, else "desktop user"."""
    if config is not None and config.desk.name:
        return config.desk.name
    try:
        name = getpass.getuser()
    except Exception:  # no user name in this environment: still say it was a person
        return "desktop user"
    return name[:DESK_NAME_MAX] or "desktop user"


class AppConfig(_Section):
    servicenow: ServiceNowConfig = ServiceNowConfig()
    autotask: AutotaskConfig = AutotaskConfig()
    store: StoreConfig = StoreConfig()
    polling: PollingConfig = PollingConfig()
    trigger: TriggerConfig = TriggerConfig()
    outbound: OutboundConfig = OutboundConfig()
    duplicates: DuplicatesConfig = DuplicatesConfig()
    return_trip: ReturnTripConfig = ReturnTripConfig()
    webhook: WebhookConfig = WebhookConfig()
    desk: DeskConfig = DeskConfig()


# ---- loading -------------------------------------------------------------------------------------


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def resolve_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return default_config_path()


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def default_store_url() -> str:
    return f"sqlite:///{default_data_dir() / 'triage-sync.sqlite3'}"


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge tables; the user's arrays and rule tables replace the default's whole."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        is_rule = isinstance(value, Mapping) and "rule" in value
        if isinstance(current, Mapping) and isinstance(value, Mapping) and not is_rule:
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(label, [f"not valid TOML: {exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            label, [f"not UTF-8 text (byte {exc.start}); save the file as UTF-8 and try again"]
        ) from exc
    except OSError as exc:
        raise ConfigError(label, [f"cannot read file: {exc.strerror or exc}"]) from exc


def default_config_data() -> dict[str, Any]:
    path = resource_path(DEFAULT_CONFIG_RESOURCE)
    return _read_toml(path, str(path))


def _describe_error(error: Mapping[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
    # Drop pydantic's union-branch names (e.g. "fields.title.template.template") to keep keys readable.
    kind = error.get("type", "")
    message = str(error.get("msg", "invalid"))
    got = error.get("input")
    if isinstance(got, str):
        got = hide_password(got)  # an error never repeats a password typed into a URL
    if kind == "extra_forbidden":
        return f"{location}: unknown key (check the spelling; see the README for the keys)"
    if kind == "missing":
        return f"{location}: required key is missing"
    if kind == "union_tag_invalid":
        return f"{location}: 'rule' must be one of copy, template, value_map, constant, due_in_hours"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        ctx = error.get("ctx", {})
        bound = next(iter(ctx.values()), "?")
        words = {
            "greater_than_equal": ">=",
            "less_than_equal": "<=",
            "greater_than": ">",
            "less_than": "<",
        }[kind]
        return f"{location}: must be {words} {bound}, got {got!r}"
    message = message.removeprefix("Value error, ")
    if isinstance(got, Mapping | list):
        return f"{location}: {message}"
    if "got" in message or "user name or password" in message:
        return f"{location}: {message}"
    return f"{location}: {message}, got {got!r}"


def parse_config(data: Mapping[str, Any], source: str) -> AppConfig:
    """Validate raw TOML data layered over the default; raise ConfigError naming every bad key."""
    return validate_config(_merge(default_config_data(), data), source)


def validate_config(data: Mapping[str, Any], source: str) -> AppConfig:
    """Validate a complete configuration (no layering): the checks of ``config check``, e.g. for
    rules edited in the app before they are saved."""
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_describe_error(err) for err in exc.errors()]) from None
    problems = semantic_problems(config)
    if problems:
        raise ConfigError(source, problems)
    return config


def semantic_problems(config: AppConfig) -> list[str]:
    """Cross-field checks that a schema cannot express."""
    problems: list[str] = []
    for target, rule in config.outbound.fields.items():
        if target in ("companyID", "externalID", "id"):
            problems.append(
                f"outbound.fields.{target}: is set by the app itself "
                "(companyID from outbound.company_id, externalID = incident sys_id); remove this key"
            )
        if isinstance(rule, TemplateRule):
            try:
                rule.template.format_map(_TemplateProbe())
            except (ValueError, IndexError) as exc:
                problems.append(f"outbound.fields.{target}.template: not a valid template ({exc})")
            else:
                problems += _template_problems(
                    f"outbound.fields.{target}.template", rule.template, TEMPLATE_FIELDS
                )
        if isinstance(rule, CopyRule | ValueMapRule) and rule.source not in TEMPLATE_FIELDS:
            problems.append(
                f"outbound.fields.{target}.source: {rule.source!r} is not an incident field "
                f"Triage Sync reads; use one of {', '.join(TEMPLATE_FIELDS)}"
            )
        if isinstance(rule, DueInHoursRule) and rule.by not in config.outbound.fields:
            problems.append(
                f"outbound.fields.{target}.by: {rule.by!r} must name another field under outbound.fields "
                "(its label picks the hours, e.g. 'priority')"
            )
    for index, condition in enumerate(config.trigger.conditions):
        if condition.field not in INCIDENT_FIELDS:
            problems.append(
                f"trigger.conditions[{index}].field: {condition.field!r} is not an incident field "
                f"Triage Sync reads; use one of {', '.join(INCIDENT_FIELDS)}"
            )
    problems += _template_problems(
        "return_trip.default_close_notes",
        config.return_trip.default_close_notes,
        ("ticket_number", "ticket_id"),
    )
    queue_rule = config.outbound.fields.get("queueID")
    if (
        isinstance(queue_rule, ValueMapRule)
        and queue_rule.default == "@default_queue"
        and not config.outbound.default_queue
    ):
        problems.append(
            "outbound.default_queue: must name an Autotask queue (its label, e.g. 'Level I Support'); "
            "it is the queue for categories missing from outbound.fields.queueID.map"
        )
    return problems


def _template_problems(key: str, template: str, known: tuple[str, ...]) -> list[str]:
    """Placeholders must be plain names the renderer knows, so a typo fails at load, not at push time."""
    try:
        names = template_fields(template)
    except TemplateError as exc:
        return [f"{key}: {exc}"]
    return [
        f"{key}: unknown placeholder {{{name}}}; use one of {', '.join(known)}"
        for name in dict.fromkeys(names)
        if name not in known
    ]


class _TemplateProbe(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def load_config(explicit: str | os.PathLike[str] | None = None, *, must_exist: bool = False) -> AppConfig:
    """Load the effective configuration. A missing file means "defaults only" unless must_exist."""
    path = resolve_config_path(explicit)
    if not path.exists():
        if must_exist or explicit:
            raise ConfigError(
                str(path),
                [
                    "file not found; create it from resources/default-config.toml "
                    "or run `triage-sync config init`"
                ],
            )
        return parse_config({}, str(path))
    return parse_config(_read_toml(path, str(path)), str(path))


def effective_store_url(config: AppConfig) -> str:
    return config.store.url or default_store_url()


def require_live_settings(config: AppConfig) -> list[str]:
    """What a real (non-demo) run additionally needs; empty list when ready."""
    missing: list[str] = []
    if not config.servicenow.url:
        missing.append("servicenow.url: must be set (e.g. https://yourcompany.service-now.com)")
    if not config.servicenow.username:
        missing.append("servicenow.username: must be set (a web-service-only integration user)")
    if not config.autotask.username:
        missing.append("autotask.username: must be set (the API user's user name)")
    if not config.autotask.integration_code:
        missing.append(
            "autotask.integration_code: must be set (the API tracking identifier of the integration)"
        )
    if config.outbound.company_id <= 0:
        missing.append("outbound.company_id: must be the Autotask company id the tickets belong to")
    return missing


def masked(config: AppConfig) -> dict[str, Any]:
    """The effective configuration for display. The file holds no secrets; this makes sure of it."""
    data = config.model_dump(mode="json")
    for section in data.values():
        if isinstance(section, dict):
            for key in list(section):
                # The integration code identifies our API account: treat it like a credential.
                if any(word in key.lower() for word in ("password", "secret", "token", "integration_code")):
                    section[key] = "********"
                elif isinstance(section[key], str) and "://" in section[key]:
                    section[key] = hide_password(section[key])  # e.g. a PostgreSQL store URL
    return data
