"""Build a ready-to-start SyncEngine from configuration: store, both clients and their secrets."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import AppConfig, effective_store_url
from app.engine.connections import autotask_client, servicenow_client
from app.engine.engine import SyncEngine
from app.secrets import Secret, get_secret, remember
from app.store import Store


@dataclass(frozen=True)
class EngineSecrets:
    """The credentials the clients need. Passed explicitly (demo, tests) or read from keyring/env."""

    servicenow_password: Secret | None = None
    servicenow_client_secret: Secret | None = None
    autotask_secret: Secret | None = None

    @classmethod
    def lookup(cls, config: AppConfig) -> EngineSecrets:
        """Environment first (headless), then the OS keyring."""
        return cls(
            servicenow_password=get_secret("servicenow_password", config.servicenow.username),
            servicenow_client_secret=(
                get_secret("servicenow_client_secret", config.servicenow.username)
                if config.servicenow.auth == "oauth"
                else None
            ),
            autotask_secret=get_secret("autotask_secret", config.autotask.username),
        )


def build_engine(
    config: AppConfig,
    *,
    secrets: EngineSecrets | None = None,
    store: Store | None = None,
    holder: str = "engine",
) -> SyncEngine:
    """The engine is built but not started: ``await engine.start()`` takes the lease and polls.

    Raises AuthFailed when a URL or credential is missing (the message names the key or variable),
    and StoreError/SchemaTooNew when the database cannot be opened.
    """
    secrets = secrets or EngineSecrets.lookup(config)
    remember(config.autotask.integration_code)  # a request header like the secret: masked in logs
    sn = servicenow_client(config.servicenow, secrets.servicenow_password, secrets.servicenow_client_secret)
    at = autotask_client(config.autotask, secrets.autotask_secret)
    # Clients open connections only when first used, so a store that fails to open leaves nothing
    # to close; building them first means a missing credential fails before the database is touched.
    opened = store or Store.open(effective_store_url(config), migrate_schema=config.store.auto_migrate)
    return SyncEngine(config, opened, sn, at, holder=holder, owns_store=store is None)
