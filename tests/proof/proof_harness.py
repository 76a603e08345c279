"""The proof suite's harness: the shared one (tests/support/sim_harness.py) with distinctive
credentials the secrets test greps for."""

from __future__ import annotations

from sim_harness import (
    FAST_BACKOFF,
    IT,
    RETRY_ATTEMPTS,
    RefuseRule,
    RefusingTransport,
    Sleeps,
    dead_port,
)
from sim_harness import SimHarness as Harness

SN_USER = "proof.integration"
AT_USER = "proof@example.com"
# Distinctive credentials: the secrets test greps every output of a run for them.
SN_PASSWORD = "SnPw-6b1f0c-Zq!e"
AT_SECRET = "AtSec-93d7aa-Kx#r"
AT_CODE = "ATCODE-51e2f4"
SECRETS = (SN_PASSWORD, AT_SECRET, AT_CODE)

__all__ = [
    "AT_CODE",
    "AT_SECRET",
    "AT_USER",
    "FAST_BACKOFF",
    "IT",
    "RETRY_ATTEMPTS",
    "SECRETS",
    "SN_PASSWORD",
    "SN_USER",
    "Harness",
    "RefuseRule",
    "RefusingTransport",
    "Sleeps",
    "dead_port",
]
