"""The `certify` command line: `build`, `check`, `plot` (INTERFACES.md).

Every argument is validated here, before any work; a `CertifyError` becomes one line on
stderr and exit status 2, and nothing is written. Exit statuses of `check`: 0 every claim
proved, 1 some claim refuted, 2 bad input or usage, 3 nothing refuted but something unknown.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction

from .errors import CertifyError, UsageError
from .fileio import output_path
from .numbers import parse_rational

EXIT_PROVED, EXIT_REFUTED, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit status 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}", f"see {self.prog} --help")


def _rational(text: str) -> Fraction:
    try:
        return parse_rational(text, "value")
    except (ValueError, TypeError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a rational number (e.g. 1/4)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="certify", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    build = sub.add_parser("build", help="build this toolkit's construction as a network file")
    build.add_argument("--target", required=True, help="target file defining f")
    build.add_argument("--grades", required=True, type=int, help="number of grades")
    build.add_argument("--ratio", type=int, default=None, help="refinement ratio N (default 2)")
    build.add_argument("--margin", type=_rational, default=None,
                       help="safety margin θ, a rational (default 1/4)")
    build.add_argument("-o", "--output", required=True, help="network file to write")
    build.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    build.add_argument("--scheduler", default=None,
                       help="run the enclosure work units on this Dask scheduler (host:port)")
    build.add_argument("--domain", type=_rational, nargs="+", default=None, metavar="A B",
                       help="the box f lives on: A B for every coordinate, or A1 B1 ... Ad Bd")
    build.add_argument("--quiet", action="store_true", help="no progress lines")

    check = sub.add_parser("check", help="certify (G1), (G2) and sup bounds grade by grade")
    check.add_argument("--target", required=True, help="target file defining f")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--grades", type=int, help="build this many grades first")
    source.add_argument("--network", help="network file (mgdl-relu/1) to check")
    check.add_argument("--ratio", type=int, default=None, help="with --grades: ratio N")
    check.add_argument("--margin", type=_rational, default=None, help="with --grades: θ")
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

    plot = sub.add_parser("plot", help="draw residuals per grade (d=1 curves, d=2 heat maps)")
    plot.add_argument("--target", required=True, help="target file defining f")
    source = plot.add_mutually_exclusive_group(required=True)
    source.add_argument("--grades", type=int, help="build this many grades first")
    source.add_argument("--network", help="network file (mgdl-relu/1)")
    plot.add_argument("--slice", action="append", default=[],
                      help="fix coordinates for d>2, e.g. --slice x3=0.5")
    plot.add_argument("-o", "--output", required=True, help="PNG file to write")
    from .interop_cli import add_commands
    add_commands(sub, _rational)
    return parser


def _build(args) -> int:
    from .construction import DEFAULT_MARGIN, DEFAULT_RATIO, Parameters, build_levels, \
        network_from_levels
    from .domain import Domain
    from .network import write_network

    output = output_path(args.output, "-o")
    params = Parameters(args.ratio if args.ratio is not None else DEFAULT_RATIO,
                        args.margin if args.margin is not None else DEFAULT_MARGIN)
    if args.grades < 1:
        raise UsageError(f"--grades={args.grades} must be at least 1", "try --grades 6")
    domain = Domain.parse(args.domain)
    target = domain.load_target(args.target)

    def progress(record):
        if not args.quiet:
            print(f"grade {record.level + 1:3d}  mesh {record.mesh}  hats {len(record.hats):6d}"
                  f"  oscillation {float(record.oscillation):.3g}  {record.seconds:.2f}s",
                  file=sys.stderr)

    if args.jobs < 1:
        raise UsageError(f"--jobs={args.jobs} must be at least 1", "try --jobs 2")
    from .vectorised import workers
    with workers(args.jobs, args.scheduler):
        records = build_levels(target, args.grades, params, progress)
    network = domain.network_out(network_from_levels(target, records, params))
    write_network(network, output)
    if not args.quiet:
        print(f"wrote {output}: {len(network.grades)} grades, width "
              f"{max(g.width for g in network.grades)}", file=sys.stderr)
    return EXIT_PROVED


def _progress_bar(total: int, quiet: bool):
    """A transient progress bar over grades on stderr, when stderr is a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress
    progress = Progress(console=Console(stderr=True), transient=True)
    progress.start()
    progress.add_task("certifying grades", total=total)
    return progress


def _check(args) -> int:
    from .checker import Options, check
    from .construction import DEFAULT_MARGIN, DEFAULT_RATIO, Parameters, build
    from .domain import Domain
    from .network import read_network, write_network
    from .report import plain_header, plain_row

    report_path = output_path(args.report, "--report") if args.report else None
    save_path = output_path(args.save_network, "--save-network") if args.save_network else None
    options = Options(tuple(args.p) if args.p else Options.ps, args.timeout, args.jobs)
    if args.network and (args.ratio is not None or args.margin is not None):
        raise UsageError("--ratio/--margin apply only with --grades",
                         "they are construction parameters; a given network has its own")
    params = None
    if args.grades is not None:
        if args.grades < 1:
            raise UsageError(f"--grades={args.grades} must be at least 1", "try --grades 6")
        params = Parameters(args.ratio if args.ratio is not None else DEFAULT_RATIO,
                            args.margin if args.margin is not None else DEFAULT_MARGIN)
    domain = Domain.parse(args.domain)
    target = domain.load_target(args.target)
    if params is not None:
        from .vectorised import workers
        with workers(options.jobs, args.scheduler):
            network = build(target, args.grades, params.ratio, params.margin)
    else:
        network = domain.network_in(read_network(args.network))
    if network.dim != target.dim:
        raise UsageError(f"--network has dim={network.dim} but --target has d={target.dim}",
                         "check the network against the target it approximates")
    if save_path:
        write_network(domain.network_out(network), save_path)
    if not args.quiet:
        print(plain_header(), flush=True)
    bar = _progress_bar(len(network.grades), args.quiet)

    def on_grade(report):
        report = domain.report(report)
        if bar is not None:
            bar.advance(0)
        if not args.quiet:
            (bar.console.print if bar is not None else print)(plain_row(report.grades[-1]))
        if report_path:
            report.write(report_path)

    try:
        report = check(target, network, options.ps, options.timeout, options.jobs, on_grade,
                       scheduler=args.scheduler)
    finally:
        if bar is not None:
            bar.stop()
    report = domain.report(report)
    if report_path:
        report.write(report_path)
    for g in report.grades:
        for witness in (g.counterexample, g.no_overshoot_counterexample):
            if witness is not None:
                print(f"grade {g.grade}: {witness.describe()}")
    print(f"verdict: {report.verdict}")
    return report.exit_status


def _plot(args) -> int:
    from .plot import run_plot_command
    return run_plot_command(args)


def _interop_handlers() -> dict:
    from .interop_cli import HANDLERS
    return HANDLERS


def run(argv: list[str] | None = None) -> int:
    """Run the command line on `argv` and return the exit status (for tests and notebooks)."""
    try:
        args = _parser().parse_args(argv)
        handler = {"build": _build, "check": _check, "plot": _plot,
                   **_interop_handlers()}[args.command]
        return handler(args)
    except CertifyError as exc:
        print(f"certify: error: {exc.line()}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("certify: interrupted; nothing was written", file=sys.stderr)
        return 130


def main() -> None:
    """Entry point of the `certify` console script."""
    sys.exit(run())


if __name__ == "__main__":
    main()
