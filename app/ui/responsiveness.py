"""How the desktop process shares one Python interpreter between the GUI thread and the engine.

The engine runs in the desktop's process: its store calls, page parsing and duplicate check run in
worker threads, and every thread needs the interpreter lock to run Python. The GUI thread must get
it within a frame (16 ms) whatever the workers do (docs/performance.md, "fourth pass"):

- **Switch interval.** A thread waiting for the lock asks the holder to let go after the switch
  interval (5 ms by default). With two busy workers the waiting GUI thread lost the hand-over race
  again and again: 18-36 ms waits at 1 ms, 7-12 ms at 0.25 ms.
- **Full garbage collections** walk every object the collector tracks while holding the lock:
  5-45 ms with 100,000 queue rows (more before the window froze what it loaded and the duplicate
  check's cache became plain tuples). Python starts one when the objects that survived young
  collections grew by a quarter and ten young (generation 1) collections passed since the last:
  bulk work (a poll of 5,000 incidents) met both several times per poll. Here a full collection
  waits for a thousand young ones: during bursts they are rare, while a steady heap (the quarter's
  growth not reached) saw few anyway. Cyclic garbage that outlived the young collections is freed
  later than before, not never; collecting after each poll instead cost the GUI 20-45 ms there.
- **Worker threads run at a lower OS priority** (Linux): on a busy 2-core machine the GUI thread
  gets a core first.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import qasync

GUI_SWITCH_INTERVAL = 0.00025  # seconds a thread may hold the interpreter while another waits
FULL_COLLECTION_SPACING = 1000  # young (generation 1) collections between full ones; Python's: 10
WORKER_NICENESS = 5  # added to the worker threads' nice value (Linux)
WORKER_THREADS = 10  # as many as qasync's own default executor (some calls wait up to 15 s)


def share_interpreter() -> None:
    """The switch interval and collector thresholds of the desktop process."""
    sys.setswitchinterval(GUI_SWITCH_INTERVAL)
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_SPACING)


def gui_event_loop() -> qasync.QEventLoop:
    """The desktop's asyncio loop (on Qt's), whose worker threads run at a lower priority."""
    loop = qasync.QEventLoop()
    loop.set_default_executor(background_executor())
    return loop


def background_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=WORKER_THREADS, thread_name_prefix="engine-worker", initializer=_lower_priority
    )


def _lower_priority() -> None:
    """Linux schedules threads one by one: this worker thread yields the CPU to the GUI thread.
    Elsewhere the call would change the whole process's priority: left as it is."""
    if sys.platform.startswith("linux"):
        thread = threading.get_native_id()
        with contextlib.suppress(OSError):  # a sandbox may refuse: the thread just keeps its priority
            os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + WORKER_NICENESS)
