"""The engine tests' harness is the shared one (tests/support/sim_harness.py)."""

from __future__ import annotations

from collections.abc import Callable

from sim_harness import FAST_BACKOFF, IT
from sim_harness import SimHarness as Harness

Shift = Callable[[float], None]  # moves the simulators' clock forward by some seconds

__all__ = ["FAST_BACKOFF", "IT", "Harness", "Shift"]
