"""The `certify` command line: `build`, `check`, `plot` (docs/cli.md).

Every argument is validated here, before any work: paths together (an output is never an
input or another output), then the size of the request against a budget (`certify.limits`).
Exit statuses: 0 every claim proved, 1 some claim refuted, 2 bad input or usage (one line
on stderr, nothing written), 3 nothing refuted but something unknown, 4 internal error (a
bug: one line on stderr), 130 interrupted (Ctrl-C; the message says what was written).

Each subcommand is one `_add_<name>` (its arguments) and one `_<name>` (its work),
registered in `COMMANDS`; `run` is the single top-level guard around all of them.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from fractions import Fraction

from .. import fileio
from ..errors import CertifyError, UsageError

EXIT_PROVED, EXIT_REFUTED, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3
EXIT_INTERNAL, EXIT_INTERRUPTED = 4, 130
DOCS = "docs/ of the certify project (docs/cli.md: formats, exit statuses; docs/table.md)"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit status 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}", f"see {self.prog} --help")


def _rational(text: str) -> Fraction:
    from ..engine.numbers import parse_rational
    try:
        return parse_rational(text, "value")
    except (ValueError, TypeError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a rational number (e.g. 1/4)")


# --------------------------------------------------------------------------- shared arguments

def _scheme_flags(parser, prefix: str = "") -> None:
    """`--scheme` and `--tol`: the construction's coefficient rule and adaptivity."""
    parser.add_argument("--scheme", choices=("surplus", "balanced"), default=None,
                        help=prefix + "coefficient rule: surplus (default; hierarchical surplus "
                        "kept where no overshoot is proved) or balanced (the theorem's)")
    parser.add_argument("--tol", type=_rational, default=None,
                        help=prefix + "skip nodes whose star residual is within this of 0 "
                        "(default 0)")


def _add_target(parser) -> None:
    """`--target FILE` (executed as Python: trust it like any script) or `--expr TEXT`."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--target", help="target file defining f (it is executed as Python: "
                       "use only files you trust)")
    group.add_argument("--expr", help="target as a formula in x1..xd, e.g. 'sin(2*pi*x1)' "
                       "(parsed, never executed)")
    parser.add_argument("--lipschitz", type=_rational, default=None,
                        help="with --expr: claimed max-norm Lipschitz constant (verified)")


def _add_limits(parser) -> None:
    parser.add_argument("--force", action="store_true",
                        help="run even past the resource budget (docs/cli.md#limits)")


def _load_target(args, domain=None):
    """The target of `--target` or `--expr` (TargetError, exit 2, if unusable), on the
    unit cube (`domain` maps a target file given on another box)."""
    from ..target import load_target, target_from_expression
    if getattr(args, "expr", None) is not None:
        if domain is not None and not domain.is_unit:
            raise UsageError("--domain applies only with --target",
                             "write the formula on [0,1]^d, or put it in a target file")
        return target_from_expression(args.expr, args.lipschitz)
    if getattr(args, "lipschitz", None) is not None:
        raise UsageError("--lipschitz applies only with --expr",
                         "a target file declares LIPSCHITZ itself")
    return domain.load_target(args.target) if domain is not None else load_target(args.target)


def _inputs(args) -> dict:
    return {"--target": getattr(args, "target", None), "--network": getattr(args, "network", None)}


def _construction_params(args):
    """Validated (grades, Parameters) for a build request, with its size within budget."""
    from ..construction import DEFAULT_MARGIN, DEFAULT_RATIO, DEFAULT_SCHEME, Parameters
    if args.grades < 1:
        raise UsageError(f"--grades={args.grades} must be at least 1", "try --grades 6")
    params = Parameters(args.ratio if args.ratio is not None else DEFAULT_RATIO,
                        args.margin if args.margin is not None else DEFAULT_MARGIN,
                        scheme=getattr(args, "scheme", None) or DEFAULT_SCHEME,
                        tol=getattr(args, "tol", None) if getattr(args, "tol", None) is not None
                        else Fraction(0))
    return params


# --------------------------------------------------------------------------- build

def _add_build(sub) -> None:
    build = sub.add_parser("build", help="build this toolkit's construction as a network file")
    _add_target(build)
    build.add_argument("--grades", required=True, type=int, help="number of grades")
    build.add_argument("--ratio", type=int, default=None, help="refinement ratio N (default 2)")
    build.add_argument("--margin", type=_rational, default=None,
                       help="safety margin θ, a rational (default 1/4)")
    _scheme_flags(build)
    build.add_argument("-o", "--output", required=True, help="network file to write")
    build.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    build.add_argument("--scheduler", default=None,
                       help="run the enclosure work units on this Dask scheduler (host:port)")
    build.add_argument("--domain", type=_rational, nargs="+", default=None, metavar="A B",
                       help="the box f lives on: A B for every coordinate, or A1 B1 ... Ad Bd")
    build.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_limits(build)


def _build(args) -> int:
    from ..construction import build_levels, network_from_levels
    from .domain import Domain
    from ..limits import check_construction
    from ..engine.network import write_network
    from .progress import Progress

    fileio.check_paths(_inputs(args), {"-o": args.output})
    params = _construction_params(args)
    domain = Domain.parse(args.domain)
    target = _load_target(args, domain)
    check_construction(target.dim, args.grades, params.ratio, args.force)
    if args.jobs < 1:
        raise UsageError(f"--jobs={args.jobs} must be at least 1", "try --jobs 2")
    from ..engine.work_units import forks_pay, workers
    progress = Progress(args.quiet)
    with workers(args.jobs, args.scheduler, forks_pay(target.dim)):
        records = build_levels(target, args.grades, params,
                               _on_level(progress, target, args, params))
    network = domain.network_out(network_from_levels(target, records, params))
    write_network(network, args.output)
    progress.say(f"wrote {args.output}: {len(network.grades)} grades, width "
                 f"{max(g.width for g in network.grades)}")
    return EXIT_PROVED


def _on_level(progress, target, args, params):
    """A build's `progress` callback: the level's line (`Progress.build_level`), then the
    build refused (exit 2) at the first grade that shows it past a budget
    (`limits.check_building`: coarse levels of f that vanish make every grade hold a finer
    level than the estimate made before the build)."""
    from ..limits import check_building
    shown = progress.build_level(args.grades, params.ratio ** target.dim)
    hats = [0]

    def on_level(record):
        shown(record)
        if record.trivial:              # the build has ended: no grade to come holds hats
            return
        hats[0] += len(record.hats)
        check_building(target.dim, args.grades, params.ratio, record.grade, hats[0],
                       record.level, args.force)
    return on_level


# --------------------------------------------------------------------------- check

def _add_source(parser, network_help: str) -> None:
    """Either `--grades N` (build first) or `--network FILE`, exactly one."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--grades", type=int, help="build this many grades first")
    source.add_argument("--network", help=network_help)


def _add_check(sub) -> None:
    check = sub.add_parser("check", help="certify (G1), (G2) and sup bounds grade by grade")
    _add_target(check)
    _add_source(check, "network file (mgdl-relu/1) to check")
    check.add_argument("--ratio", type=int, default=None, help="with --grades: ratio N")
    check.add_argument("--margin", type=_rational, default=None, help="with --grades: θ")
    _scheme_flags(check, "with --grades: ")
    check.add_argument("--p", type=_rational, nargs="+", default=None,
                       help="exponents p >= 1 for the L^p decrease (default 1 2)")
    check.add_argument("--report", help="write the certify-report/1 JSON here")
    check.add_argument("--save-network", help="write the (built) network here")
    check.add_argument("--timeout", type=float, default=10.0,
                       help="seconds per solver call (default 10); a refinement gets 6x that")
    check.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    check.add_argument("--scheduler", default=None,
                       help="run the enclosure work units on this Dask scheduler (host:port)")
    check.add_argument("--quiet", action="store_true", help="no table or progress")
    check.add_argument("--domain", type=_rational, nargs="+", default=None, metavar="A B",
                       help="the box f and the network live on: A B for every coordinate, "
                            "or A1 B1 ... Ad Bd (default [0,1]^d)")
    _add_limits(check)


#: seconds between two rewrites of a partial `--report` during a check
REPORT_EVERY = 0.5


def _check(args) -> int:
    pending: list = []          # a worker checking grades ahead (`check_ahead`), if any
    try:
        return _check_run(args, pending)
    finally:
        for worker in pending:  # ended, whatever happened (none is left behind)
            worker.cancel()


def _check_run(args, pending: list) -> int:
    from ..certificates.checker import Options, check
    from ..construction import build_levels, network_from_levels
    from .domain import Domain
    from ..limits import check_construction, check_network
    from ..engine.network import read_network, write_network
    from .progress import Progress
    from ..certificates.report import Report, plain_header, plain_row

    report_path, save_path = args.report, args.save_network
    fileio.check_paths(_inputs(args), {"--report": report_path, "--save-network": save_path})
    options = Options(tuple(args.p) if args.p else Options.ps, args.timeout, args.jobs)
    if args.network and (args.ratio is not None or args.margin is not None
                         or args.scheme is not None or args.tol is not None):
        raise UsageError("--ratio/--margin/--scheme/--tol apply only with --grades",
                         "they are construction parameters; a given network has its own")
    params = _construction_params(args) if args.grades is not None else None
    domain = Domain.parse(args.domain)
    target = _load_target(args, domain)
    progress = Progress(args.quiet)
    earlier = None              # under --jobs: grades 1..N-1 checked while N is built
    if params is not None:
        check_construction(target.dim, args.grades, params.ratio, args.force)
        from ..certificates import check_ahead
        from ..engine.work_units import forks_pay, workers
        shown, built = _on_level(progress, target, args, params), []

        def on_level(record):
            nonlocal earlier
            shown(record)
            built.append(record)
            if earlier is None and check_ahead.wanted(target, built, args.grades):
                earlier = check_ahead.start(target, built, params, dict(
                    p=options.ps, timeout=options.timeout, jobs=options.jobs))
                pending.extend([earlier] if earlier is not None else [])
        with workers(options.jobs, args.scheduler, forks_pay(target.dim)):
            records = build_levels(target, args.grades, params, on_level)
        network = network_from_levels(target, records, params, written=bool(save_path))
    else:
        network = domain.network_in(read_network(args.network, force=args.force))
    if network.dim != target.dim:
        raise UsageError(f"--network has dim={network.dim} but the target has d={target.dim}",
                         "check the network against the target it approximates")
    check_network(network, args.force)
    if save_path:
        write_network(domain.network_out(network), save_path)
    if not args.quiet:
        print(plain_header(), flush=True)
    latest, last_write = [None], [-math.inf]

    def on_grade(report):
        report = domain.report(report)
        latest[0] = report
        progress.grade_done(report.grades[-1], len(network.grades),
                            [g.depth for g in network.grades])
        if not args.quiet:
            print(plain_row(report.grades[-1]), flush=True)
        # the partial report is rewritten as grades finish, at most every REPORT_EVERY
        # seconds (each write is a whole report, formatted and synced to disk); the complete
        # one is always written at the end, and the partial one on Ctrl-C
        if report_path and time.monotonic() - last_write[0] >= REPORT_EVERY:
            report.write(report_path)
            last_write[0] = time.monotonic()

    try:
        with progress.phases():
            report = check(target, network, options.ps, options.timeout, options.jobs, on_grade,
                           scheduler=args.scheduler, earlier=earlier)
    except KeyboardInterrupt:
        if report_path:
            done = latest[0]
            partial = Report(network.dim, target.name,
                             list(done.grades) if done is not None else [], complete=False,
                             info={**(done.info if done is not None else {}),
                                   "interrupted": True})
            partial.write(report_path)
        raise
    report = domain.report(report)
    if report_path:
        report.write(report_path)
    for g in report.grades:
        for witness in (g.counterexample, g.no_overshoot_counterexample):
            if witness is not None:
                print(f"grade {g.grade}: {witness.describe()}", flush=True)
    print(f"verdict: {report.verdict}", flush=True)
    return report.exit_status


# --------------------------------------------------------------------------- plot

def _add_plot(sub) -> None:
    plot = sub.add_parser("plot", help="draw residuals per grade (d=1 curves, d=2 heat maps)")
    _add_target(plot)
    _add_source(plot, "network file (mgdl-relu/1)")
    plot.add_argument("--slice", action="append", default=[],
                      help="fix coordinates for d>2, e.g. --slice x3=0.5")
    plot.add_argument("-o", "--output", required=True, help="PNG file to write")
    _add_limits(plot)


def _plot(args) -> int:
    from .plot import run_plot_command
    fileio.check_paths(_inputs(args), {"-o": args.output})
    return run_plot_command(args)


# --------------------------------------------------------------------------- dispatch

#: name -> (add its arguments to the subparsers, run it and return the exit status)
COMMANDS = {"build": (_add_build, _build), "check": (_add_check, _check),
            "plot": (_add_plot, _plot)}


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="certify", description=__doc__.splitlines()[0],
                     epilog=f"Documentation: {DOCS}. Exit statuses: 0 proved, 1 refuted, "
                     "2 bad input, 3 unknown, 4 internal error, 130 interrupted.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add, _ in COMMANDS.values():
        add(sub)
    from .interop_cli import add_commands
    add_commands(sub, _rational)
    return parser


def _handler(command: str):
    if command in COMMANDS:
        return COMMANDS[command][1]
    from .interop_cli import HANDLERS
    return HANDLERS[command]


def run(argv: list[str] | None = None) -> int:
    """Run the command line on `argv` and return the exit status (for tests and notebooks).

    The one top-level guard: bad input is one line and exit 2; Ctrl-C is exit 130 with what
    was written; anything unexpected is one line and exit 4, never 1 (which means refuted).
    """
    fileio.WRITTEN.clear()
    try:
        args = _parser().parse_args(argv)
        return _handler(args.command)(args)
    except CertifyError as exc:
        print(f"certify: error: {exc.line()}", file=sys.stderr, flush=True)
        return exc.exit_status
    except KeyboardInterrupt:
        print(f"\ncertify: interrupted; {fileio.written()}"
              + (" (the report says \"complete\": false)" if fileio.WRITTEN else ""),
              file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except RecursionError:
        print("certify: error: input nested too deeply to process (simplify the target or "
              "the network)", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except MemoryError:
        print("certify: error: out of memory (the request is too large; see the limits in "
              "docs/cli.md)", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_USAGE
    except Exception as exc:      # the top-level guard: a bug, never "refuted"
        if os.environ.get("CERTIFY_DEBUG"):
            raise
        message = " ".join(str(exc).split())[:300]
        print(f"certify: internal error: {type(exc).__name__}: {message} (a bug in certify; "
              f"exit status {EXIT_INTERNAL}; {fileio.written()})", file=sys.stderr, flush=True)
        return EXIT_INTERNAL


#: the cyclic garbage collector's thresholds in a command-line run: a run allocates
#: millions of long-lived exact numbers, tuples and small arrays, hardly any in cycles, and
#: the default (700, 10, 10) rescans them so often that collecting took some 15% of
#: `check --grades 14` on sine (peak memory unchanged)
GC_THRESHOLDS = (100_000, 50, 100)


def _keep_freed_memory() -> None:
    """Ask glibc's allocator to serve numpy's large temporaries from the heap and keep freed
    memory mapped (up to 512 MiB): by default each array above a dynamic threshold is a fresh
    `mmap` whose pages fault in one by one, which cost some 2 s of system time of 9 s on
    `check --grades 16` for sine. Peak memory is unchanged; elsewhere (not glibc) it is a
    no-op."""
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt        # the process's own symbols: libc's
    except (OSError, AttributeError):
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    mallopt(M_MMAP_THRESHOLD, 32 * 2 ** 20)        # glibc's largest allowed value
    mallopt(M_TRIM_THRESHOLD, 512 * 2 ** 20)


def main() -> None:
    """Entry point of the `certify` console script. The collector's thresholds are set
    before numpy and SymPy are imported (this module imports neither), which saves some
    ten collections while they load. The process ends without the interpreter's teardown
    (`_leave`)."""
    import gc
    gc.set_threshold(*GC_THRESHOLDS)
    _keep_freed_memory()
    _leave(run())


def _leave(status: int) -> None:
    """Exit with `status` once standard output and error are flushed, skipping the
    interpreter's teardown, which frees the run's millions of exact numbers and arrays one
    by one (some 4% of `check --grades 10` on sine) for nobody: when `run` returns, every
    file it writes is written and closed (atomically), worker processes and pools are shut
    down, and threads are idle. Under a profiler or tracer (`python -m cProfile`,
    coverage), which write their results at exit, the normal exit is kept."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):           # a closed or broken pipe: nothing to keep
        pass
    if sys.getprofile() is None and sys.gettrace() is None:
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    main()
