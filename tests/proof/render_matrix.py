"""Print the fault-matrix table for docs/reliability.md from a run's observations.

PROOF_MATRIX_OUT=/tmp/matrix.jsonl .venv/bin/pytest tests/proof/test_proof_fault_matrix.py -q
.venv/bin/python tests/proof/render_matrix.py /tmp/matrix.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "support"))  # the shared simulator harness

from test_proof_fault_matrix import CALLS, EXPECTED, FAULTS, KNOWN_BUGS, NOTES  # noqa: E402


def main(path: str) -> None:
    seen: dict[tuple[str, str], str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        seen[(row["call"], row["fault"])] = row["observed"]
    short = {
        "sn-poll": "SN poll",
        "sn-read": "SN read",
        "sn-writeback": "SN update (write-back)",
        "sn-return": "SN update (return trip)",
        "at-poll": "AT poll",
        "at-read": "AT read (metadata)",
        "at-create": "AT create",
    }
    print("Cell = expected outcome; ✓ = observed the same in the last run; BUG n = in KNOWN_BUGS.\n")
    print("| Fault | " + " | ".join(short[c.key] for c in CALLS) + " |")
    print("|---|" + "---|" * len(CALLS))
    bugs: list[str] = []
    notes: list[str] = []
    for index, fault in enumerate(FAULTS):
        cells = []
        for call in CALLS:
            key = (call.key, fault.key)
            expected = EXPECTED[call.key][index]
            if key in KNOWN_BUGS:
                bugs.append(f"{short[call.key]} × {fault.label}: {KNOWN_BUGS[key]}")
                cells.append(f"{expected}: **BUG {len(bugs)}**")
                continue
            observed = seen.get(key)
            mark = "✓" if observed == expected else f"✗ observed {observed or 'not run'}"
            text = f"{expected} {mark}"
            if NOTES.get(key):
                notes.append(f"{short[call.key]} × {fault.label}: {NOTES[key]}")
                text += f" [n{len(notes)}]"
            cells.append(text)
        print(f"| {fault.label} | " + " | ".join(cells) + " |")
    print()
    for n, bug in enumerate(bugs, 1):
        print(f"- BUG {n}: {bug}")
    for n, note in enumerate(notes, 1):
        print(f"- n{n}: {note}")


if __name__ == "__main__":
    main(sys.argv[1])
