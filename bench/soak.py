"""Soak: the integration layer run again and again, optionally on a CPU-loaded machine.

Flakes hide in a single green run. This runs ``pytest -m integration`` (as
``make test-integration`` does: xdist, ``--dist loadscope``) ``--runs`` times in a
row, with ``--load N`` processes spinning on the CPU meanwhile if asked, reads
each run's JUnit XML and prints a tally: per run its outcome and time, then every
test that failed in any run, with how often. Exits non-zero if any run failed.

    .venv/bin/python bench/soak.py --runs 10
    .venv/bin/python bench/soak.py --runs 2 --load 2   # two busy loops on two cores
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 1800  # seconds one run of the layer may take


def spin(stop: multiprocessing.synchronize.Event) -> None:
    """Keep one core busy until told to stop."""
    while not stop.is_set():
        sum(range(10_000))


def failures(junit: Path) -> list[str]:
    """The tests a run's JUnit XML reports as failed or in error."""
    if not junit.exists():
        return ["(no JUnit XML: the run did not get to its end)"]
    found = []
    for case in ElementTree.parse(junit).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            found.append(f"{case.get('classname')}::{case.get('name')}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--load", type=int, default=0, help="busy processes meanwhile")
    parser.add_argument("--xdist", default="-n 2 --dist loadscope")
    args = parser.parse_args()

    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=spin, args=(stop,)) for _ in range(args.load)]
    for spinner in spinners:
        spinner.start()
    tally: collections.Counter[str] = collections.Counter()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="stackyard-soak-") as work:
            for number in range(1, args.runs + 1):
                junit = Path(work) / f"run-{number}.xml"
                command = [sys.executable, "-m", "pytest", "-m", "integration"]
                command += [*args.xdist.split(), "-p", "no:randomly", f"--junitxml={junit}"]
                began = time.monotonic()
                try:
                    completed = subprocess.run(
                        command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT
                    )
                    code = completed.returncode
                except subprocess.TimeoutExpired:
                    code = -1
                failed = failures(junit) if code else []
                tally.update(failed)
                rows.append((number, code, time.monotonic() - began, len(failed)))
                print(f"run {number}: exit {code}, {rows[-1][2]:.0f} s, {len(failed)} failed")
    finally:
        stop.set()
        for spinner in spinners:
            spinner.join(10)

    clean = sum(1 for _, code, _, _ in rows if code == 0)
    print(f"\n{clean} of {len(rows)} runs passed (load: {args.load} busy processes)")
    print("| run | exit | seconds | failed tests |\n|---|---|---|---|")
    for number, code, seconds, count in rows:
        print(f"| {number} | {code} | {seconds:.0f} | {count} |")
    for test, count in tally.most_common():
        print(f"flaky or broken: {test} failed in {count} of {len(rows)} runs")
    return 0 if clean == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
