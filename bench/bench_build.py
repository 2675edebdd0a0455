"""Benchmark of this toolkit's construction (`certify build` without writing a file).

    python bench/bench_build.py            # sine 10, peaks2d 6, runge 10, smooth3d 4
    python bench/bench_build.py --quick    # only sine 10 and peaks2d 6

For each target it runs `build_levels` (star bounds and coefficients, level by level) and
then realises the grades as ReLU layers (`network_from_levels`), and prints one row:
total wall seconds, hats, stars evaluated, hats per second, and the seconds per star of the
first nontrivial grade and of the last grade. The construction keeps the approximant as
nodal values on the current grid, so the cost of a star should not grow with the number of
hats already placed: the two per-star columns should stay of the same order.

Timings only: nothing here asserts anything about them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from certify.construction import Parameters, build_levels, network_from_levels
from certify.engine.realize import max_width
from certify.target import load_target

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")
RUNS = [("sine.py", 10), ("peaks2d.py", 6)]
OPTIONAL = [("runge.py", 10), ("smooth3d.py", 4)]
HEADERS = ["target", "d", "grades", "total s", "build s", "layers s", "hats", "stars",
           "hats/s", "first grade", "first s/star", "last s/star", "width"]


def bench(name: str, grades: int) -> list[str]:
    target = load_target(os.path.join(EXAMPLES, name))
    params = Parameters()
    start = time.perf_counter()
    records = build_levels(target, grades, params)
    middle = time.perf_counter()
    network = network_from_levels(target, records, params)
    end = time.perf_counter()
    total = end - start
    hats = sum(len(r.hats) for r in records)
    stars = sum(r.stars for r in records)
    first = next((r for r in records if r.hats), records[-1])
    last = records[-1]
    width = max(g.width for g in network.grades)
    return [name, str(target.dim), str(grades), f"{total:.3f}", f"{middle - start:.3f}",
            f"{end - middle:.3f}", str(hats), str(stars), f"{hats / total:,.0f}",
            str(first.level + 1), f"{first.seconds / first.stars:.2e}",
            f"{last.seconds / last.stars:.2e}", f"{width} <= {max_width(target.dim)}"]


def show(rows: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:        # plain text
        widths = [max(len(r[i]) for r in [HEADERS] + rows) for i in range(len(HEADERS))]
        for row in [HEADERS] + rows:
            print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
        return
    table = Table(title="certify build: construction cost (ratio 2, margin 1/4)")
    for i, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip runge and smooth3d")
    args = parser.parse_args(argv)
    runs = RUNS if args.quick else RUNS + OPTIONAL
    rows = []
    for name, grades in runs:
        print(f"building {name} with {grades} grades ...", file=sys.stderr, flush=True)
        rows.append(bench(name, grades))
    show(rows)
    print("total s = build s (build_levels) + layers s (network_from_levels); "
          "s/star = a grade's build seconds / its stars; first grade = first nontrivial one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
