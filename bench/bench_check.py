"""Benchmark of `certify check`: build + certify, hats per second, time per hat by grade.

Run: python bench/bench_check.py [--jobs J]. Prints one summary table and, per target,
the seconds per hat of each nontrivial grade (it should stay flat: a hat costs the
simplices of its star, not the hats built before it). No assertions: speed goals live here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from rich.console import Console
from rich.table import Table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from certify.certificates.checker import check  # noqa: E402
from certify.construction import build  # noqa: E402
from certify.target import load_target  # noqa: E402

CASES = [("sine", 10), ("peaks2d", 6), ("runge", 10), ("smooth3d", 4)]


def run(name: str, grades: int, jobs: int):
    target = load_target(os.path.join(ROOT, "examples", f"{name}.py"))
    start = time.perf_counter()
    network = build(target, grades)
    built = time.perf_counter()
    report = check(target, network, jobs=jobs)
    done = time.perf_counter()
    return report, built - start, done - built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    console = Console(width=150)
    summary = Table(title=f"certify check benchmark (jobs={args.jobs})")
    for col in ("target", "grades", "verdict", "hats", "build s", "check s", "total s",
                "hats/s", "s/hat first", "s/hat last"):
        summary.add_column(col, justify="right")
    details = []
    for name, grades in CASES:
        if args.only and name not in args.only:
            continue
        report, t_build, t_check = run(name, grades, args.jobs)
        hats = sum(g.hats or 0 for g in report.grades)
        per_hat = [(g.grade, g.hats, g.seconds / g.hats) for g in report.grades if g.hats]
        summary.add_row(name, str(grades), report.verdict, str(hats), f"{t_build:.2f}",
                        f"{t_check:.2f}", f"{t_build + t_check:.2f}",
                        f"{hats / (t_build + t_check):.0f}",
                        f"{per_hat[0][2] * 1e3:.2f} ms", f"{per_hat[-1][2] * 1e3:.2f} ms")
        details.append((name, per_hat))
    console.print(summary)
    for name, per_hat in details:
        console.print(f"{name}: ms per hat by grade: " + ", ".join(
            f"g{k}({n})={s * 1e3:.2f}" for k, n, s in per_hat))


if __name__ == "__main__":
    main()
