"""Benchmark of the two coefficient rules: `surplus` (default) against `balanced`.

    python bench/bench_scheme.py              # every target, grades d=1: 10, d=2: 7, d=3: 5
    python bench/bench_scheme.py --quick      # sine, runge, kink, peaks2d, smooth3d: 6 / 3 / 2
    python bench/bench_scheme.py --grades 8 5 3      # grades for d = 1, 2, 3
    python bench/bench_scheme.py --only sine peaks2d # a subset, by file name

For each target and scheme it builds the network, runs `certify check` on it and prints
one row: the verdict, hats, the finest level, the certified sup error of the last grade,
an *estimate* of the sup error of the nodal interpolant on that same finest grid
(`certify.engine.interpolant`, floats: a yardstick, not a bound), their ratio, an estimate of the
*(G1) floor* on that grid (`g1_floor_estimate`: the largest |f| on a finest simplex that
the zero set of f crosses along a curve, where every grade that keeps (G1) must vanish;
proofs/THEOREM.md §15), the ratio of sup to the larger of the two yardsticks, and build /
check seconds. Smaller is better; `sup / interp` = 1 would be interpolation itself, and no
(G1) scheme goes below `floor ~`: `sup / best` near 1 means as good as interpolation, or at
the floor that no scheme keeping (G1) can pass.

The defaults are issue #13's grade counts, 10 / 7 / 5 in d = 1 / 2 / 3 (meshes down to 2^-12,
2^-8 and 2^-5); the full table takes many minutes on a shared 2-core machine. Timings are
wall-clock, build and check in one process (the check reuses the build's f data), and noisy
under contention. Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import os
import time

from certify.certificates.checker import check
from certify.construction import build
from certify.engine.interpolant import g1_floor_estimate, interpolation_error_estimate
from certify.target import load_target

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
TARGETS = [  # (path, what it is)
    ("examples/sine.py", "smooth"), ("examples/runge.py", "smooth, peaked"),
    ("tests/targets/bump.py", "smooth"), ("tests/targets/wave.py", "oscillating"),
    ("tests/targets/kink.py", "kink"), ("examples/holder.py", "Hölder cusp"),
    ("examples/pl2d.py", "piecewise linear"), ("examples/peaks2d.py", "smooth"),
    ("tests/targets/ridge2d.py", "kink"), ("tests/targets/cusp2d.py", "Hölder cusp"),
    ("examples/smooth3d.py", "smooth"), ("tests/targets/kink3d.py", "kink"),
    ("tests/targets/cusp3d.py", "Hölder cusp"),
]
QUICK = ["examples/sine.py", "examples/runge.py", "tests/targets/kink.py", "examples/peaks2d.py",
         "examples/smooth3d.py"]
HEADERS = ["target", "kind", "d", "grades", "scheme", "verdict", "hats", "level", "sup <=",
           "interp ~", "sup/interp", "floor ~", "sup/best", "build s", "check s"]


def run(path: str, kind: str, grades: int, scheme: str) -> list[str]:
    target = load_target(os.path.join(ROOT, path))
    start = time.perf_counter()
    network = build(target, grades, scheme=scheme)
    built = time.perf_counter()
    report = check(target, network)
    done = time.perf_counter()
    last = report.grades[-1]
    level = network.meta["levels"][-1]["level"]
    interp = interpolation_error_estimate(target, 2 ** level)
    floor = g1_floor_estimate(target, 2 ** level)
    best = max(interp or 0.0, floor or 0.0)
    sup = float(last.sup_upper) if last.sup_upper is not None else float("nan")
    hats = sum(g.hats or 0 for g in report.grades)
    return [os.path.basename(path)[:-3], kind, str(target.dim), str(grades), scheme,
            report.verdict, str(hats), str(level), f"{sup:.3g}",
            "-" if interp is None else f"{interp:.3g}",
            "-" if not interp else f"{sup / interp:.3g}",
            "-" if floor is None else f"{floor:.3g}",
            "-" if not best else f"{sup / best:.3g}",
            f"{built - start:.1f}", f"{done - built:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--grades", type=int, nargs=3, default=None, metavar=("D1", "D2", "D3"))
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                        help="targets by file name without .py (e.g. sine peaks2d)")
    args = parser.parse_args()
    grades = dict(zip((1, 2, 3), args.grades or ((6, 3, 2) if args.quick else (10, 7, 5))))
    targets = [t for t in TARGETS if (not args.quick or t[0] in QUICK)
               and (not args.only or os.path.basename(t[0])[:-3] in args.only)]
    widths = [len(h) for h in HEADERS]
    print("  ".join(h.rjust(w) for h, w in zip(HEADERS, widths)), flush=True)
    for path, kind in targets:
        dim = load_target(os.path.join(ROOT, path)).dim
        for scheme in ("surplus", "balanced"):
            row = run(path, kind, grades[dim], scheme)
            widths = [max(w, len(c)) for w, c in zip(widths, row)]
            print("  ".join(c.rjust(w) for c, w in zip(row, widths)), flush=True)


if __name__ == "__main__":
    main()
