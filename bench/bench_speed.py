"""Speed of the construction path: `certify check --grades N` as a whole process (issue 12).

    python bench/bench_speed.py                       # sine 10/14, peaks2d 6/7, smooth3d 4/5
    python bench/bench_speed.py --only sine:10 peaks2d:6
    python bench/bench_speed.py --large               # adds sine 16, peaks2d 8, smooth3d 6
    python bench/bench_speed.py --jobs 2
    python bench/bench_speed.py --large --repeat 5        # medians of five runs each
    python bench/bench_speed.py --saved                   # and check --network of it, saved
    python bench/bench_speed.py --save bench/baseline # keep the reports ...
    python bench/bench_speed.py --compare bench/baseline   # ... and compare with them later
    python bench/bench_speed.py --only peaks2d:8 --speedup 2   # --jobs 2 against --jobs 1

Each run is a fresh `python -m certify check --target examples/T.py --grades N --quiet`
process; the table gives hats, cells (simplices of all grades' grids), CPU seconds of the
process (user + system; steadier than wall on a shared machine), wall seconds, peak
resident memory, ms per hat, the start-up (CPU of a process that only imports and loads
the target, mostly SymPy, which every target file imports) and ms per hat of the work
after it, the marginal ms per hat (the extra CPU per extra hat over the next smaller run
of the same target: whether the cost grows linearly in hats, fixed costs aside), bytes per
hat, and the *float floor*: one numpy pass over the same sub-boxes (f and its gradient in float64 at every sub-box midpoint of every grade),
which no rigorous method can beat. `--compare DIR` checks that every report has the same
verdicts as the saved one and that bounds only tightened (sup and norm upper bounds not
larger, lower bounds and decreases not smaller) when the saved network is checked again,
and, for the network built anew, the same verdicts and every value within 1e-6 relative
(tighter star bounds may change the construction's coefficients in their last bits).

`--speedup J` times each run again with `--jobs 1` and `--jobs J`, alternating (`--repeat`
times, at least 3), and prints the ratio of the median wall times (issue 12 asks 1.7x on
peaks2d 8 with `--jobs 2` when two cores are free: the load average is printed beside it).

With `--save` or `--compare` each run also writes its network (`--save-network`), which
makes every layer and formats it: those timings include that; plain runs do not.

Timings only: nothing here asserts anything about them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RUNS = [("sine", 10), ("sine", 14), ("peaks2d", 6), ("peaks2d", 7), ("smooth3d", 4),
        ("smooth3d", 5)]
LARGE = [("sine", 16), ("peaks2d", 8), ("smooth3d", 6)]
HEADERS = ["run", "verdict", "hats", "cells", "CPU s", "wall s", "peak MiB", "ms/hat",
           "start s", "work ms/hat", "marg. ms/hat", "KB/hat", "floor ms", "x floor"]


#: the runs' environment: bytecode caching on, as for an installed package (pip compiles
#: it at install time); a shell with PYTHONDONTWRITEBYTECODE=1 would otherwise make every
#: run compile certify's ~60 modules from source again, about 0.15 s of CPU
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def warm_up(names) -> None:
    """One small check of each target, untimed, so that the timed runs find the bytecode of
    every module a check imports (lazily imported ones included)."""
    for name in sorted(set(names)):
        subprocess.run([sys.executable, "-m", "certify", "check", "--target",
                        os.path.join(ROOT, "examples", f"{name}.py"), "--grades", "2",
                        "--quiet"], cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL)


def run_check(name: str, grades: int, jobs: int, report: str, profile: str | None,
              network: str | None = None, save_network: str | None = None):
    """Run one check process; returns (cpu seconds, wall seconds, peak RSS bytes)."""
    cmd = [sys.executable]
    if profile:
        cmd += ["-m", "cProfile", "-o", profile]
    source = ["--network", network] if network else ["--grades", str(grades)]
    cmd += ["-m", "certify", "check", "--target", os.path.join(ROOT, "examples", f"{name}.py"),
            *source, "--quiet", "--report", report, "--jobs", str(jobs), "--force"]
    if save_network:
        cmd += ["--save-network", save_network]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1, 3):
        raise SystemExit(f"{name} --grades {grades}: certify exited {proc.returncode}")
    # the rusage of a waited-for child includes its own waited-for children (--jobs workers)
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss * 1024


def startup_cpu(name: str) -> float:
    """CPU seconds of a process that only starts: imports what `check --grades N` imports
    and loads the target (SymPy alone is most of it), then exits; best of three."""
    code = ("from certify.interfaces import cli; from certify.certificates import checker; "
            "from certify import construction; from certify.target import load_target; "
            f"load_target({os.path.join(ROOT, 'examples', name + '.py')!r})")
    best = math.inf
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"start-up of {name} failed")
        best = min(best, usage.ru_utime + usage.ru_stime)
    return best


def cells_of(dim: int, grades: int, ratio: int = 2) -> int:
    """Simplices of every grade's grid: Σ_ℓ (ratio^ℓ)^d d!."""
    return sum((ratio ** level) ** dim for level in range(grades)) * math.factorial(dim)


def float_floor(name: str, grades: int) -> float:
    """Seconds of one numpy pass: f and ∇f in float64 at every sub-box midpoint (best of
    three)."""
    import numpy as np
    from certify.construction import default_subdivision
    from certify.engine.numbers import FLOAT
    from certify.target import load_target
    target = load_target(os.path.join(ROOT, "examples", f"{name}.py"))
    k = default_subdivision(target.dim)

    def one_pass(levels):
        for level in range(levels):
            m = (2 ** level) * k
            axes = [(np.arange(m) + 0.5) / m] * target.dim
            points = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
            target.floats(points)
            with np.errstate(all="ignore"):
                target.gradient(FLOAT, tuple(points.T))
    one_pass(1)             # untimed: the first call's one-off costs are not the floor's
    best = math.inf
    for _ in range(3):      # best of three: a busy machine adds wall time, never removes it
        start = time.perf_counter()
        one_pass(grades)
        best = min(best, time.perf_counter() - start)
    return best


def _fraction(text):
    return None if text is None else Fraction(text)


def compare(old: dict, new: dict, slack: Fraction = Fraction(0)) -> list[str]:
    """Differences that are not allowed: verdicts changed, or a bound loosened (by more
    than `slack`, relative: nonzero only when the two reports are of different networks)."""
    problems = []
    if old["verdict"] != new["verdict"]:
        problems.append(f"verdict {old['verdict']} -> {new['verdict']}")
    for a, b in zip(old["grades"], new["grades"]):
        k = a["grade"]
        for key in ("verdict", "monotone", "no_overshoot", "nontrivial", "hats", "path"):
            if a[key] != b[key]:
                problems.append(f"grade {k} {key}: {a[key]} -> {b[key]}")
        pairs = [("sup_upper", a["sup_upper"], b["sup_upper"], "upper"),
                 ("sup_lower", a["sup_lower"], b["sup_lower"], "lower")]
        for la, lb in zip(a["lp"], b["lp"]):
            if la["status"] != lb["status"]:
                problems.append(f"grade {k} p={la['p']} status: {la['status']} -> {lb['status']}")
            pairs += [(f"p={la['p']} norm_upper", la["norm_upper"], lb["norm_upper"], "upper"),
                      (f"p={la['p']} norm_lower", la["norm_lower"], lb["norm_lower"], "lower"),
                      (f"p={la['p']} decrease", la["decrease_lower"], lb["decrease_lower"],
                       "lower")]
        for what, x, y, side in pairs:
            x, y = _fraction(x), _fraction(y)
            if x is None:
                continue
            allowed = slack * abs(x)
            if y is None or (y > x + allowed if side == "upper" else y < x - allowed):
                problems.append(f"grade {k} {what}: {x} -> {y} (looser)")
    if len(old["grades"]) != len(new["grades"]):
        problems.append("number of grades differs")
    return problems


def marginal(measured: dict, name: str, grades: int) -> str:
    """ms per hat of the CPU a run takes beyond the next smaller measured run of the same
    target: the slope of the cost in hats, without the fixed costs ('-' for the smallest)."""
    hats, cpu = measured[name, grades]
    smaller = [g for (n, g) in measured if n == name and g < grades]
    if not smaller:
        return "-"
    less_hats, less_cpu = measured[name, max(smaller)]
    return f"{(cpu - less_cpu) / (hats - less_hats) * 1e3:.3f}" if hats > less_hats else "-"


def speedup_row(name: str, grades: int, jobs: int, repeat: int) -> list[str]:
    """`--jobs 1` against `--jobs jobs`, alternating `repeat` times: median wall and CPU of
    each, the wall ratio, and the load average before and after."""
    load = os.getloadavg()[0]
    times: dict = {1: [], jobs: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            for j in (1, jobs):
                cpu, wall, _ = run_check(name, grades, j, os.path.join(tmp, "r.json"), None)
                times[j].append((wall, cpu))
    one, many = ([statistics.median(column) for column in zip(*times[j])] for j in (1, jobs))
    return [f"{name} {grades}", f"{one[0]:.2f}", f"{many[0]:.2f}", f"{one[0] / many[0]:.2f}",
            f"{one[1]:.2f}", f"{many[1]:.2f}", f"{load:.2f} / {os.getloadavg()[0]:.2f}"]


def print_table(head: list[str], rows: list[list[str]]) -> None:
    """The rows under their head, each column right-aligned to its widest cell."""
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    for row in [head] + rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="runs as target:grades, e.g. sine:10")
    parser.add_argument("--large", action="store_true", help="add sine 16, peaks2d 8, smooth3d 6")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each check this many times and print the medians")
    parser.add_argument("--saved", action="store_true",
                        help="also time `check --network` of the run's network, saved by "
                             "`certify build -o` (untimed): the build-once, check-later path")
    parser.add_argument("--speedup", type=int, metavar="J",
                        help="also time each run with --jobs 1 and --jobs J, alternating")
    parser.add_argument("--profile", help="directory for cProfile outputs (NAME-N.prof)")
    parser.add_argument("--save", help="directory to save the reports in")
    parser.add_argument("--compare", help="directory of saved reports to compare with")
    args = parser.parse_args(argv)
    runs = [(s.split(":")[0], int(s.split(":")[1])) for s in args.only] if args.only \
        else RUNS + (LARGE if args.large else [])
    rows, failures, saved_rows, speedup_rows = [], [], [], []
    measured = {}                   # (name, grades) -> (hats, CPU s): the marginal cost
    warm_up(name for name, _ in runs)
    for name, grades in runs:
        print(f"{name} --grades {grades} ...", file=sys.stderr, flush=True)
        key = f"{name}-{grades}"
        with tempfile.TemporaryDirectory() as tmp:
            report_path = os.path.join(tmp, "report.json")
            network_path = os.path.join(tmp, "network.json")
            profile = os.path.join(args.profile, f"{key}.prof") if args.profile else None
            # the network is written only when it is kept or compared: writing it (every
            # layer made and formatted) is not part of `check --grades N`
            keep = network_path if (args.save or args.compare) else None
            cpu, wall, rss = run_check(name, grades, args.jobs, report_path, profile,
                                       save_network=keep)
            if args.repeat > 1:         # medians: this VM's run-to-run spread is about ±10%
                more = [run_check(name, grades, args.jobs, report_path, None)
                        for _ in range(args.repeat - 1)]
                cpu, wall, rss = (statistics.median(column)
                                  for column in zip((cpu, wall, rss), *more))
            with open(report_path) as handle:
                report = json.load(handle)
            if args.save:
                os.makedirs(args.save, exist_ok=True)
                with open(os.path.join(args.save, key + ".json"), "w") as handle:
                    json.dump(report, handle, indent=1)
                shutil.copy(network_path, os.path.join(args.save, key + ".network.json"))
            saved = os.path.join(args.compare or "", key + ".json")
            if args.compare and os.path.exists(saved):
                with open(saved) as handle:
                    old = json.load(handle)
                # the construction itself may change (tighter star bounds give other
                # coefficients): verdicts must agree, values within 1e-6 relative
                failures += [f"{key} --grades: {p}" for p in compare(old, report,
                                                                     Fraction(1, 10 ** 6))]
                # the saved network checked now: identical verdicts, bounds only tighter
                old_network = os.path.join(args.compare, key + ".network.json")
                if os.path.exists(old_network):
                    again = os.path.join(tmp, "again.json")
                    run_check(name, grades, args.jobs, again, None, network=old_network)
                    with open(again) as handle:
                        failures += [f"{key} --network: {p}"
                                     for p in compare(old, json.load(handle))]
            if args.saved:
                saved_net = os.path.join(tmp, "built.json")
                subprocess.run([sys.executable, "-m", "certify", "build", "--target",
                                os.path.join(ROOT, "examples", f"{name}.py"), "--grades",
                                str(grades), "--force", "-o", saved_net], cwd=ROOT, env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                s_cpu, _, s_rss = run_check(name, grades, args.jobs,
                                            os.path.join(tmp, "saved.json"), None,
                                            network=saved_net)
                saved_rows.append([f"{name} {grades}", f"{cpu:.2f}", f"{s_cpu:.2f}",
                                   f"{s_cpu / cpu:.1f}", f"{s_rss / 2 ** 20:.0f}"])
        if args.speedup:
            speedup_rows.append(speedup_row(name, grades, args.speedup, max(3, args.repeat)))
        hats = sum(g["hats"] or 0 for g in report["grades"])
        floor = float_floor(name, grades)
        start = startup_cpu(name)
        measured[name, grades] = hats, cpu
        rows.append([f"{name} {grades}", report["verdict"], f"{hats}",
                     f"{cells_of(report['dim'], grades)}", f"{cpu:.2f}", f"{wall:.2f}",
                     f"{rss / 2 ** 20:.0f}", f"{cpu / hats * 1e3:.3f}", f"{start:.2f}",
                     f"{(cpu - start) / hats * 1e3:.3f}", marginal(measured, name, grades),
                     f"{rss / hats / 1024:.1f}", f"{floor * 1e3:.1f}", f"{cpu / floor:.0f}"])
    print(f"certify check --grades N, jobs={args.jobs}, "
          f"{'median of ' + str(args.repeat) + ' runs, ' if args.repeat > 1 else ''}load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print_table(HEADERS, rows)
    print("CPU = user+system seconds of the process and its workers; peak = largest RSS; "
          "ms/hat and KB/hat use CPU and peak memory; start = CPU of a process that only imports "
          "and loads the target; work ms/hat = (CPU - start) / hats; marg. ms/hat = the extra "
          "CPU per extra hat over the next smaller run of the same target (the slope of the "
          "cost in hats); x floor = CPU / float floor")
    if saved_rows:
        print("\ncertify check --network of the same network, saved by certify build -o")
        print_table(["run", "--grades CPU s", "--network CPU s", "ratio", "--network peak MiB"],
                    saved_rows)
    if speedup_rows:
        print(f"\n--jobs 1 against --jobs {args.speedup}, alternating, medians of "
              f"{max(3, args.repeat)} each")
        print_table(["run", "wall 1", f"wall {args.speedup}", "speedup", "CPU 1",
                     f"CPU {args.speedup}", "load before / after"], speedup_rows)
    if args.compare:
        print("reports vs " + args.compare + ": " + ("identical verdicts, no bound looser"
                                                      if not failures else "DIFFER"))
        for line in failures:
            print("  " + line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
