"""The interoperability commands: `certify import` (ONNX to `mgdl-relu/1`) and
`certify export-query` (the (G1) question of a grade for SMT solvers and VNN-LIB verifiers).

Kept apart from `cli.py`, which only registers them; errors follow the same rule: one line,
exit status 2, nothing written.
"""

from __future__ import annotations

import sys

from ..errors import UsageError


def add_commands(sub, rational) -> None:
    """Register the subcommands on the `certify` parser's subparsers."""
    imp = sub.add_parser("import", help="convert an ONNX model to an mgdl-relu/1 network file")
    imp.add_argument("model", help="ONNX file: one scalar output per grade")
    imp.add_argument("-o", "--output", required=True, help="network file (JSON) to write")

    query = sub.add_parser("export-query",
                           help="write the (G1) question of one grade as SMT-LIB or VNN-LIB")
    query.add_argument("--network", required=True, help="network file (mgdl-relu/1 or .onnx)")
    query.add_argument("--target", required=True, help="piecewise-linear target file")
    query.add_argument("--grade", required=True, type=int, help="the grade k")
    query.add_argument("--format", required=True, choices=("smtlib", "vnnlib"),
                       help="smtlib: QF_LRA text; vnnlib: ONNX model + VNN-LIB property")
    query.add_argument("-o", "--output", required=True, help="directory to write into")


def _import(args) -> int:
    from ..fileio import check_paths
    from ..engine.network import read_network, write_network

    check_paths({"model": args.model}, {"-o": args.output})
    output = args.output
    network = read_network(args.model)
    write_network(network, output)
    print(f"wrote {output}: d={network.dim}, {len(network.grades)} grades, widths "
          f"{[g.width for g in network.grades]}", file=sys.stderr)
    return 0


def _export_query(args) -> int:
    from ..engine.network import read_network
    from .query_export import export_query
    from ..target import load_target

    if args.grade < 1:
        raise UsageError(f"--grade={args.grade} must be at least 1")
    network = read_network(args.network)
    target = load_target(args.target)
    for path in export_query(target, network, args.grade, args.format, args.output):
        print(f"wrote {path}", file=sys.stderr)
    return 0


HANDLERS = {"import": _import, "export-query": _export_query}
