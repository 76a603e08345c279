"""Headless engine for the crash-safety test: ``python crash_worker.py CONFIG STOPFILE``.

Builds the engine the way ``triage-sync run`` does (config file + secrets from the environment,
app.engine.factory.build_engine), prints ``ready`` once it holds the lease, then loops
``run_once(auto_push=True)`` until STOPFILE exists and a cycle had nothing left to do. The test
kills it with SIGKILL at random moments; nothing here cooperates with that.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from app.config import load_config
from app.engine.backoff import Backoff
from app.engine.factory import build_engine
from app.store import QueueState, WritebackState


async def main(config_path: str, stop_file: str) -> int:
    config = load_config(config_path, must_exist=True)
    engine = build_engine(config, holder="crash-worker")
    engine.ctx.backoff = Backoff(base_seconds=0.05, max_seconds=0.2)  # retries due soon
    try:
        await engine.acquire_lease()
        print("ready", flush=True)
        while True:
            report = await engine.run_once(auto_push=True)
            if Path(stop_file).exists():
                items = engine.store.list_items()
                busy = [
                    i
                    for i in items
                    if i.state in (QueueState.PENDING, QueueState.APPROVED, QueueState.PUSHING)
                ]
                writebacks = [
                    link
                    for link in engine.store.list_links()
                    if link.writeback_state == WritebackState.PENDING
                ]
                if report.ok and not busy and not writebacks and report.pushed == 0 and report.applied == 0:
                    print("idle", flush=True)
                    return 0
            await asyncio.sleep(0.01)
    finally:
        await engine.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
