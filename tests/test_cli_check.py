"""`certify check` from the command line: exit statuses, the report file, refusals."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from certify.interfaces.cli import run
from certify.construction import build
from certify.engine.network import network_to_json, write_network
from certify.target import load_target

from checker_helpers import example, residual_at_hat, set_coefficient
from test_general_path import P, tent_network


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("certify: error: "), err
    return err[0]


def test_proved_exit_0_and_report(tmp_path, capsys):
    report = tmp_path / "r.json"
    net = tmp_path / "n.json"
    status = run(["check", "--target", example("sine"), "--grades", "5", "--report",
                  str(report), "--save-network", str(net), "--p", "1", "2", "3/2"])
    assert status == 0
    out = capsys.readouterr().out
    assert "verdict: proved" in out and "monotone" in out
    data = json.loads(report.read_text())
    assert data["format"] == "certify-report/1" and data["verdict"] == "proved"
    assert data["dim"] == 1 and data["target"] == "sine.py" and data["complete"]
    g = data["grades"][-1]
    for key in ("grade", "width", "depth", "hats", "monotone", "no_overshoot", "sup_upper",
                "sup_lower", "lp", "counterexample", "seconds"):
        assert key in g
    assert [lp["p"] for lp in g["lp"]] == ["1", "2", "3/2"]
    for lp in g["lp"]:
        assert Fraction(lp["norm_lower"]) <= Fraction(lp["norm_upper"])
        assert Fraction(lp["decrease_lower"]) > 0
    assert Fraction(g["sup_lower"]) <= Fraction(g["sup_upper"])
    # the saved network checks the same way
    assert run(["check", "--target", example("sine"), "--network", str(net)]) == 0
    assert not list(tmp_path.glob("*.tmp*")) and not list(tmp_path.glob(".*"))


def test_refuted_exit_1_prints_witness(tmp_path, capsys):
    target = load_target(example("sine"))
    network = build(target, 5)
    bad = set_coefficient(network, 5, 0, Fraction(5, 2) * residual_at_hat(target, network, 5, 0))
    path = tmp_path / "bad.json"
    write_network(bad, str(path))
    report = tmp_path / "r.json"
    assert run(["check", "--target", example("sine"), "--network", str(path),
                "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "monotone fails at x = " in out and "verdict: refuted" in out
    data = json.loads(report.read_text())
    cex = data["grades"][-1]["counterexample"]
    assert data["verdict"] == "refuted" and cex is not None
    assert all(Fraction(v) >= 0 for v in cex["x"])
    assert Fraction(cex["abs_e_new"]) > Fraction(cex["abs_e_prev"])


def test_unknown_exit_3(tmp_path):
    # f = x^2 and g = relu(2x - 1/2), the tangent of 2f at 1/2: 2f - g = 2(x - 1/2)^2 >= 0,
    # (G1) holds with no margin at 1/2, which no enclosure of f can certify: unknown
    target = tmp_path / "square.py"
    target.write_text("def f(x1):\n    return x1**2\n")
    path = tmp_path / "tangent.json"
    path.write_text(json.dumps({"format": "mgdl-relu/1", "dim": 1, "meta": {}, "grades": [
        {"layers": [{"weight": [["2"]], "bias": ["-1/2"]}],
         "readout": {"weight": ["1"], "bias": "0"}}]}))
    assert run(["check", "--target", str(target), "--network", str(path),
                "--timeout", "1"]) == 3


def test_jobs_give_the_same_verdicts(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run(["check", "--target", example("pl2d"), "--grades", "3", "--report", str(a),
                "--quiet"]) == 0
    assert run(["check", "--target", example("pl2d"), "--grades", "3", "--report", str(b),
                "--jobs", "2", "--quiet"]) == 0
    strip = lambda d: [{k: v for k, v in g.items() if k != "seconds"} for g in d["grades"]]
    assert strip(json.loads(a.read_text())) == strip(json.loads(b.read_text()))


@pytest.mark.parametrize("args,needle", [
    (["--grades", "0"], "--grades"),
    (["--grades", "2", "--p", "1/2"], "p=1/2"),
    (["--grades", "2", "--p", "x"], "rational"),
    (["--grades", "2", "--timeout", "0"], "timeout"),
    (["--grades", "2", "--jobs", "0"], "jobs"),
    (["--grades", "2", "--ratio", "1"], "ratio"),
    (["--network", "NET", "--ratio", "3"], "--ratio"),
    (["--network", "/nonexistent/n.json"], "cannot read network"),
    (["--grades", "2", "--report", "/nonexistent/dir/r.json"], "does not exist"),
    (["--grades", "2", "--network", "NET"], "not allowed with"),
    ([], "one of the arguments"),
])
def test_bad_usage_exit_2_nothing_written(tmp_path, capsys, args, needle):
    net = tmp_path / "net.json"
    net.write_text(json.dumps(network_to_json(tent_network(Fraction(1, 4), Fraction(1, 10)))))
    args = [str(net) if a == "NET" else a for a in args]
    report = tmp_path / "r.json"
    extra = [] if "--report" in args else ["--report", str(report)]
    status = run(["check", "--target", example("sine")] + args + extra)
    assert status == 2
    assert needle in one_line_error(capsys)
    assert not report.exists()


def test_dimension_mismatch_is_refused(tmp_path, capsys):
    net = tmp_path / "net.json"
    net.write_text(json.dumps(network_to_json(tent_network(Fraction(1, 4), Fraction(1, 10)))))
    report = tmp_path / "r.json"
    assert run(["check", "--target", example("pl2d"), "--network", str(net),
                "--report", str(report)]) == 2
    assert "dim=1" in one_line_error(capsys)
    assert not report.exists()


def test_the_command_line_module_imports_neither_numpy_nor_sympy():
    """`certify.interfaces.cli` loads light, so `main` sets the collector's thresholds before
    numpy and SymPy are imported (their loading is then collected some ten times less)."""
    import os
    import subprocess
    import sys
    code = ("import sys, gc; import certify.interfaces.cli as cli; "
            "assert not {'numpy', 'sympy', 'flint'} & set(sys.modules), sorted(sys.modules); "
            "assert cli._rational('3/4') == 3 / 4")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=os.path.join(os.path.dirname(__file__), os.pardir))


def test_a_construction_check_imports_neither_the_regions_path_nor_multiprocessing():
    """Lazy imports: a check of grades on grids loads neither the linear-region engine nor
    `multiprocessing` (the issue's "a 1-D check does not pay for what it does not use")."""
    import os
    import subprocess
    import sys
    code = ("import sys; from certify.interfaces.cli import run; "
            "assert run(['check', '--target', 'examples/sine.py', '--grades', '3', "
            "'--quiet']) == 0; "
            "loaded = {'certify.certificates.region_path', 'certify.engine.regions', "
            "'certify.engine.polytope', 'multiprocessing'} & set(sys.modules); "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=os.path.join(os.path.dirname(__file__), os.pardir))


def test_the_console_entry_exits_with_its_status_and_its_files_whole(tmp_path):
    """`main` ends the process without the interpreter's teardown: the exit status, the
    printed verdict and the report are all there; under a profiler the normal exit is kept,
    so the profile is written (bench/bench_speed.py --profile)."""
    import os
    import subprocess
    import sys
    root = os.path.join(os.path.dirname(__file__), os.pardir)
    report, profile = tmp_path / "r.json", tmp_path / "p.prof"
    args = ["check", "--target", "examples/sine.py", "--grades", "3", "--quiet",
            "--report", str(report)]
    done = subprocess.run([sys.executable, "-m", "certify", *args], cwd=root,
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "verdict: proved"
    assert json.loads(report.read_text())["verdict"] == "proved"
    bad = subprocess.run([sys.executable, "-m", "certify", "check", "--target", "nope.py",
                          "--grades", "2"], cwd=root, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("certify: error: ")
    profiled = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile), "-m",
                               "certify", *args], cwd=root, capture_output=True, text=True)
    assert profiled.returncode == 0 and profile.stat().st_size > 0
