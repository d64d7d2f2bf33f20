"""`make bench`: speed of the main job (generate + lint), measured, not asserted in tests.

Prints one line per step with the median of several runs; exits non-zero only when a
goal in GOALS is missed, so regressions show up here instead of in timed tests.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import presets
from .chart import Chart
from .generator import generate

RUNS = 5
GOALS = {"generate": 1.0, "lint": 10.0, "cli start": 0.3}  # seconds, median (per chart)


def _median(fn, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    missed = []
    # a fresh interpreter each time: what a user waits for before `chartgen presets` answers
    start = _median(lambda: subprocess.run([sys.executable, "-m", "chartgen", "presets"], check=True,
                                           stdout=subprocess.DEVNULL))
    print(f"cli start (chartgen presets, whole process) {start * 1000:7.1f} ms")
    if start > GOALS["cli start"]:
        missed.append(f"cli start {start:.2f}s > goal {GOALS['cli start']}s")
    with tempfile.TemporaryDirectory() as tmp:
        for name in presets.names():
            out = Path(tmp) / name
            example = presets.load(name).example  # a component needs an image
            gen = _median(lambda: generate(name, name, output=out, force=True, **example))
            lint = _median(lambda: Chart(out).lint(), runs=3)
            print(f"{name:<8} generate {gen * 1000:7.1f} ms   lint (helm lint --strict + render + "
                  f"schemas + policy) {lint * 1000:7.1f} ms")
            for step, took in (("generate", gen), ("lint", lint)):
                if took > GOALS[step]:
                    missed.append(f"{name} {step} {took:.2f}s > goal {GOALS[step]}s")
    for line in missed:
        print(f"goal missed: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
