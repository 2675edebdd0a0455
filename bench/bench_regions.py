"""Benchmark of the regions path on networks trained the MGDL way (a printed table).

    python bench/bench_regions.py [--quick] [--mgdl] [--only NAME]

For each fixture network (tests/fixtures/mgdl, bench/fixtures): grades, linear regions of
the last grade, regions per second of enumeration, wall and CPU time of a full `check`
(CPU is the steadier number on a shared machine), and the
verdicts of (G1) and (G2) per grade (P proved, R refuted, ? unknown, - not owed), with
sampling on and off. If `maraboupy` is installed, Marabou is timed on the same (G1)
question of the last grade, and its answer is re-checked exactly. Goals (issue 9, 2 cores):
2-D 3 grades (32x2, 16x2, 16x2) <= 5 s, 1-D 4 grades (32x2 ... 8x1) <= 1 s.

`--mgdl` adds networks of the sizes the published MGDL experiments use (1-D: grades of
2 hidden layers of width 32-256; 2-D: width 64-128), trained briefly and deterministically
by examples/mgdl_train.py (needs torch) into bench/fixtures/generated/ (not in git: several
MB each) the first time; a rerun reuses them. Goals: 1-D 4 grades of width 64-128 decided
(every grade proved or refuted) in <= 10 s, 2-D 3 grades of width 64 in <= 30 s.
`--only NAME` keeps the rows whose network name contains NAME.
"""

from __future__ import annotations

import os
import subprocess
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

GENERATED = os.path.join(BENCH, "generated")
TRAIN = os.path.join(ROOT, "examples", "mgdl_train.py")

MGDL = [  # (name, target, grades, epochs): MGDL-sized, briefly trained (seed 0, batch 32)
    ("sine1d_128-64-64-32x2", "sine1d.py", "128x2,64x2,64x2,32x2", "30,30"),
    ("sine1d_256-128x2", "sine1d.py", "256x2,128x2", "30,30"),
    ("pl2d_64-64-32x2", "pl2d.py", "64x2,64x2,32x2", "6,15"),
    ("smooth2d_64-64-32x2", "smooth2d.py", "64x2,64x2,32x2", "6,15"),
    ("smooth2d_128-128-64x2", "smooth2d.py", "128x2,128x2,64x2", "4,8"),
]

SHORT = {"proved": "P", "refuted": "R", "unknown": "?", "not owed": "-"}


def mgdl_cases() -> list:
    """Train the MGDL-sized networks that are not there yet; return (network, target) pairs."""
    try:
        import torch  # noqa: F401
    except ImportError:
        print("--mgdl: torch is not installed (pip install -e '.[torch]'): rows skipped")
        return []
    os.makedirs(GENERATED, exist_ok=True)
    out = []
    for name, target, grades, epochs in MGDL:
        net = os.path.join(GENERATED, name + ".json")
        tgt = os.path.join(FIXTURES, target)
        if not os.path.exists(net):
            subprocess.run([sys.executable, TRAIN, "--seed", "0", "--batch", "32",
                            "--target", tgt, "--grades", grades, "--epochs", epochs,
                            "-o", net], check=True, stderr=subprocess.DEVNULL)
        out.append((net, tgt))
    return out


def verdicts(report) -> str:
    out = []
    for g in report.grades:
        lp = "".join(SHORT.get(x.status, "?") for x in g.lp)
        out.append(f"{SHORT[g.monotone]}{lp}")
    return " ".join(out)


def enumerate_regions(network, target):
    start = time.perf_counter()
    counts = []
    for regions in grade_regions(network, target):
        counts.append(len(regions))
    return counts, time.perf_counter() - start


def marabou_row(network, target):
    try:
        import maraboupy  # noqa: F401
    except ImportError:
        return "maraboupy not installed"
    return "maraboupy installed: comparison not implemented for this network format"


def main(argv):
    quick = "--quick" in argv
    only = argv[argv.index("--only") + 1] if "--only" in argv[:-1] else ""
    cases = CASES + (mgdl_cases() if "--mgdl" in argv else [])
    cases = [c for c in cases if only in os.path.basename(c[0])]
    header = (f"{'network':28} {'d':>2} {'grades':>6} {'regions':>8} {'reg/s':>8} "
              f"{'check s':>8} {'cpu s':>6} {'no-sample s':>11}  verdicts (G1 then G2 per p, by grade)")
    print(header)
    print("-" * len(header))
    for net_path, target_path in cases:
        if not os.path.exists(net_path):
            print(f"{os.path.basename(net_path):28} missing")
            continue
        network = read_network(net_path)
        target = load_target(target_path)
        counts, seconds = enumerate_regions(network, target)
        regions = counts[-1]
        start, cpu = time.perf_counter(), time.process_time()
        report = check(target, network, p=[1, 2])
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        if quick:
            plain, wall2 = None, float("nan")
        else:
            start = time.perf_counter()
            plain = check(target, network, p=[1, 2], falsify=False)
            wall2 = time.perf_counter() - start
        same = "" if plain is None or verdicts(plain) == verdicts(report) else \
            f"  (without sampling: {verdicts(plain)})"
        print(f"{os.path.basename(net_path):28} {network.dim:>2} {len(network.grades):>6} "
              f"{regions:>8} {regions / max(seconds, 1e-9):>8.0f} {wall:>8.2f} {cpu:>6.2f} {wall2:>11.2f}  "
              f"{verdicts(report)}{same}  (regions by grade: {'/'.join(map(str, counts))})",
              flush=True)
    print()
    print(marabou_row(None, None))


if __name__ == "__main__":
    main(sys.argv[1:])
