"""Benchmark of the `L^p` enclosures: norm_upper / norm_lower per example, grade and p.

Run: python bench/bench_norms.py [--grades-scale S]. For each example at the grades the
tests use, checks the network twice — with piecewise-constant bounds on every piece
("before": `lp.TIGHT = False`) and with certified integrals where available ("after") —
and prints the ratio norm_upper / norm_lower of both, and the seconds of each check
(noisy under contention). The goal is a ratio <= 1.05; no assertions here.
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

from certify.engine import lp  # noqa: E402
from certify.certificates.checker import check  # noqa: E402
from certify.construction import build  # noqa: E402
from certify.target import load_target  # noqa: E402

#: the grades tests/test_checker.py certifies
CASES = [("sine", 6), ("runge", 6), ("holder", 6), ("pl2d", 4), ("peaks2d", 4),
         ("smooth3d", 4)]


def ratios(target, network, tight: bool):
    lp.TIGHT = tight
    try:
        start = time.perf_counter()
        report = check(target, network)
        seconds = time.perf_counter() - start
    finally:
        lp.TIGHT = True
    out = {}
    for g in report.grades:
        for r in g.lp:
            if r.norm_lower and r.norm_upper is not None:
                out[(g.grade, r.p)] = float(r.norm_upper / r.norm_lower)
            else:
                out[(g.grade, r.p)] = None
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="example names")
    args = parser.parse_args()
    console = Console()
    table = Table(title="norm_upper / norm_lower (goal <= 1.05)")
    for column in ("example", "grade", "p", "before", "after", "ok"):
        table.add_column(column, justify="right")
    timing = Table(title="check seconds")
    for column in ("example", "grades", "before", "after"):
        timing.add_column(column, justify="right")
    for name, grades in CASES:
        if args.only and name not in args.only:
            continue
        target = load_target(os.path.join(ROOT, "examples", f"{name}.py"))
        network = build(target, grades)
        before, t0 = ratios(target, network, False)
        after, t1 = ratios(target, network, True)
        timing.add_row(name, str(grades), f"{t0:.2f}", f"{t1:.2f}")
        for (k, p), value in after.items():
            old = before[(k, p)]
            table.add_row(name, str(k), str(p), "-" if old is None else f"{old:.4f}",
                          "-" if value is None else f"{value:.4f}",
                          "yes" if value is not None and value <= 1.05 else "no")
    console.print(table)
    console.print(timing)


if __name__ == "__main__":
    main()
