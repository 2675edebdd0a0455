"""`certify export-query`: the (G1) question of a grade as SMT-LIB (run through z3 and cvc5,
which must agree with certify both ways) and as ONNX + VNN-LIB (well formed, and the ONNX
model computes F_{k-1}, g_k, f of the exact network and target)."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest

from certify.certificates.checker import check
from certify.interfaces.cli import run
from certify.construction import build
from certify.engine.network import read_network
from certify.interfaces.query_export import smtlib_query
from certify.target import load_target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MGDL = os.path.join(ROOT, "tests", "fixtures", "mgdl")


@pytest.fixture(scope="module")
def cases():
    """(name, target, network, grade, certify's (G1) verdict): one false, one true."""
    target = load_target(os.path.join(MGDL, "pl1d.py"))
    trained = read_network(os.path.join(MGDL, "pl1d_4g.json"))
    built = build(target, 3)
    out = []
    for name, network, grade in (("trained", trained, 1), ("built", built, 3)):
        report = check(target, network.truncated(grade), timeout=10)
        out.append((name, target, network, grade, report.grades[grade - 1].monotone))
    assert [c[4] for c in out] == ["refuted", "proved"]
    return out


def _z3(path):
    z3 = pytest.importorskip("z3")
    solver = z3.Solver()
    solver.set("timeout", 30000)
    solver.from_file(path)
    result = str(solver.check())
    model = solver.model() if result == "sat" else None
    return result, model


def _cvc5(path):
    cvc5 = pytest.importorskip("cvc5")
    solver = cvc5.Solver(cvc5.TermManager())
    solver.setOption("tlimit-per", "30000")
    parser = cvc5.InputParser(solver)
    parser.setFileInput(cvc5.InputLanguage.SMT_LIB_2_6, path)
    manager, answers = parser.getSymbolManager(), []
    while True:
        command = parser.nextCommand()
        if command.isNull():
            break
        answers.append(command.invoke(solver, manager).strip())
    return [a for a in answers if a in ("sat", "unsat", "unknown")][-1]


def _exact_violation(target, network, grade, x) -> bool:
    outs = network.exact_outputs(x)
    e_prev = target.exact(x) - sum(outs[:grade - 1])
    return abs(e_prev - outs[grade - 1]) > abs(e_prev)


def test_smtlib_agrees_with_certify_z3_and_cvc5(cases, tmp_path):
    for name, target, network, grade, verdict in cases:
        path = tmp_path / f"{name}.smt2"
        path.write_text(smtlib_query(target, network, grade))
        expected = "sat" if verdict == "refuted" else "unsat"
        result, model = _z3(str(path))
        assert result == expected, name
        if model is not None:      # z3's point is exact: re-check it with certify
            import z3
            x = tuple(model.eval(z3.Real(f"x{i + 1}"), model_completion=True).as_fraction()
                      for i in range(network.dim))
            assert _exact_violation(target, network, grade, x)
        try:
            import cvc5  # noqa: F401
        except ImportError:
            continue
        assert _cvc5(str(path)) == expected, name


def test_cli_writes_both_formats(cases, tmp_path, capsys):
    net = os.path.join(MGDL, "pl1d_4g.json")
    target = os.path.join(MGDL, "pl1d.py")
    for fmt, files in (("smtlib", ["g1_grade1.smt2"]),
                       ("vnnlib", ["g1_grade1.onnx", "g1_grade1.vnnlib"])):
        out = tmp_path / fmt
        assert run(["export-query", "--network", net, "--target", target, "--grade", "1",
                    "--format", fmt, "-o", str(out)]) == 0
        assert sorted(os.listdir(out)) == sorted(files)


@pytest.mark.parametrize("argv,needle", [
    (["--target", "sine1d.py", "--grade", "1"], "piecewise-linear"),
    (["--target", "pl1d.py", "--grade", "9"], "out of range"),
    (["--target", "pl2d.py", "--grade", "1"], "dim"),
])
def test_cli_refusals(tmp_path, capsys, argv, needle):
    argv = [a if not a.endswith(".py") else os.path.join(MGDL, a) for a in argv]
    out = tmp_path / "q"
    assert run(["export-query", "--network", os.path.join(MGDL, "pl1d_4g.json"), *argv,
                "--format", "smtlib", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    assert not out.exists()


# --------------------------------------------------------------------------- VNN-LIB

def _evaluate(model, x: np.ndarray) -> np.ndarray:
    """A tiny ONNX evaluator for the operators export-query writes (Gemm, Relu, Concat,
    Identity), in float64."""
    from onnx import numpy_helper
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    values["X"] = x.reshape(1, -1)
    for node in model.graph.node:
        attrs = {a.name: a for a in node.attribute}
        ins = [values[n] for n in node.input]
        if node.op_type == "Gemm":
            w = ins[1].T if attrs.get("transB") and attrs["transB"].i else ins[1]
            out = ins[0] @ w + (ins[2] if len(ins) > 2 else 0)
        elif node.op_type == "Relu":
            out = np.maximum(ins[0], 0)
        elif node.op_type == "Concat":
            out = np.concatenate(ins, axis=attrs["axis"].i)
        elif node.op_type == "Identity":
            out = ins[0]
        else:
            raise AssertionError(f"unexpected operator {node.op_type}")
        values[node.output[0]] = out
    return values["Y"][0]


def _sexprs(text: str):
    """Parse SMT-LIB/VNN-LIB text into nested lists (comments dropped); raises if unbalanced."""
    tokens = []
    for line in text.splitlines():
        line = line.split(";", 1)[0]
        tokens += line.replace("(", " ( ").replace(")", " ) ").split()
    stack, top = [], []
    for t in tokens:
        if t == "(":
            stack.append(top)
            top = []
        elif t == ")":
            done, top = top, stack.pop()
            top.append(done)
        else:
            top.append(t)
    assert not stack
    return top


def _holds(expr, env) -> bool | float:
    if isinstance(expr, str):
        return env[expr] if expr in env else float(expr)
    op, *args = expr
    vals = [_holds(a, env) for a in args]
    return {"and": lambda: all(vals), "or": lambda: any(vals), ">": lambda: vals[0] > vals[1],
            "<": lambda: vals[0] < vals[1], ">=": lambda: vals[0] >= vals[1],
            "<=": lambda: vals[0] <= vals[1]}[op]()


@pytest.mark.parametrize("fixture,target_name,grade", [("pl1d_4g.json", "pl1d.py", 2),
                                                       ("ridge2d_3g.json", "ridge2d.py", 3)])
def test_vnnlib_model_and_property(tmp_path, fixture, target_name, grade):
    onnx = pytest.importorskip("onnx")
    net = os.path.join(MGDL, fixture)
    out = tmp_path / "q"
    assert run(["export-query", "--network", net, "--target", os.path.join(MGDL, target_name),
                "--grade", str(grade), "--format", "vnnlib", "-o", str(out)]) == 0
    model = onnx.load(str(out / f"g1_grade{grade}.onnx"))
    onnx.checker.check_model(model, full_check=True)
    network, target = read_network(net), load_target(os.path.join(MGDL, target_name))
    script = _sexprs((out / f"g1_grade{grade}.vnnlib").read_text())
    declared = [s[1] for s in script if s[0] == "declare-const"]
    assert declared == [f"X_{i}" for i in range(network.dim)] + [f"Y_{i}" for i in range(4)]
    asserts = [s[1] for s in script if s[0] == "assert"]
    rng = np.random.default_rng(0)
    for point in rng.random((12, network.dim)):
        x = tuple(Fraction(float(v)) for v in point)
        outs = network.exact_outputs(x)
        f, prev, g = target.exact(x), sum(outs[:grade - 1]), outs[grade - 1]
        exact = [prev, g, f, g - 2 * (f - prev)]
        y = _evaluate(model, point)
        assert np.max(np.abs(y - np.array([float(v) for v in exact]))) < 1e-9
        env = {**{f"X_{i}": float(v) for i, v in enumerate(point)},
               **{f"Y_{i}": float(v) for i, v in enumerate(y)}}
        assert all(_holds(a, env) for a in asserts[:-1])          # the input box
        # the property is the exact violation wherever floats do not sit on its boundary
        if min(abs(float(exact[1])), abs(float(exact[3]))) > 1e-9:
            assert _holds(asserts[-1], env) == _exact_violation(target, network, grade, x)
