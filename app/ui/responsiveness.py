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

Not done: running the worker threads at a lower OS priority. It changed nothing measurable on a
quiet machine, and a worker holding the lock at a low priority would keep the GUI thread waiting
longer on a loaded one.
"""

from __future__ import annotations

import gc
import sys

GUI_SWITCH_INTERVAL = 0.00025  # seconds a thread may hold the interpreter while another waits
FULL_COLLECTION_SPACING = 1000  # young (generation 1) collections between full ones; Python's: 10


def share_interpreter() -> None:
    """The switch interval and collector thresholds of the desktop process."""
    sys.setswitchinterval(GUI_SWITCH_INTERVAL)
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_SPACING)
