"""ONNX in: exact weights, the same report as the JSON route, every bad model refused with one
line and exit 2 (nothing written), fuzzed bytes never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from certify.interfaces.cli import run  # noqa: E402
from certify.errors import NetworkError  # noqa: E402
from certify.engine.network import network_to_json, read_network  # noqa: E402
from certify.interfaces.onnx_import import network_from_onnx_bytes, read_onnx  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MGDL = os.path.join(ROOT, "tests", "fixtures", "mgdl")


def _same_weights(a, b) -> bool:
    return network_to_json(a)["grades"] == network_to_json(b)["grades"] and a.dim == b.dim


# --------------------------------------------------------------------------- models by hand

def _model(grades, dim, *, matmul=False, dtype=np.float64, extra=None, flatten=False,
           outputs=None, input_dim=None):
    """An ONNX model of `grades` = [([(W, b), ...], (a, c)), ...] with numpy weights."""
    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    nodes, inits, count = [], [], [0]

    def const(array, stem):
        count[0] += 1
        name = f"{stem}{count[0]}"
        inits.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def affine(src, w, b, stem):
        count[0] += 1
        out = f"{stem}_out{count[0]}"
        if matmul:
            mid = out + "_mm"
            nodes.append(helper.make_node("MatMul", [src, const(np.asarray(w).T, "W")], [mid]))
            nodes.append(helper.make_node("Add", [mid, const(b, "b")], [out]))
        else:
            nodes.append(helper.make_node("Gemm", [src, const(w, "W"), const(b, "b")], [out],
                                          transB=1))
        return out

    src = "x"
    if flatten:
        nodes.append(helper.make_node("Flatten", ["x"], ["xf"], axis=1))
        src = "xf"
    names = []
    for k, (layers, (a, c)) in enumerate(grades, start=1):
        for l, (w, b) in enumerate(layers, start=1):
            z = affine(src, w, b, f"g{k}l{l}")
            src = f"h{k}_{l}"
            nodes.append(helper.make_node("Relu", [z], [src]))
        a, c = (a, c) if np.ndim(a) == 2 else ([a], [c])
        out = affine(src, a, c, f"r{k}")
        name = f"g{k}"
        nodes.append(helper.make_node("Identity", [out], [name]))
        names.append(name)
    nodes += extra or []
    outs = [helper.make_tensor_value_info(n, elem, [1, 1]) for n in (outputs or names)]
    graph = helper.make_graph(nodes, "mgdl", [helper.make_tensor_value_info(
        "x", elem, [1, input_dim or dim])], outs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _random_grades(rng, dim, spec):
    grades, inputs = [], dim
    for widths in spec:
        layers = []
        for w in widths:
            layers.append((rng.standard_normal((w, inputs)), rng.standard_normal(w)))
            inputs = w
        grades.append((layers, (rng.standard_normal(inputs), rng.standard_normal())))
    return grades


@pytest.mark.parametrize("matmul", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weights_are_the_exact_binary_values(matmul, dtype):
    rng = np.random.default_rng(3)
    grades = _random_grades(rng, 2, [[4, 3], [2]])
    model = _model(grades, 2, matmul=matmul, dtype=dtype, flatten=True)
    onnx.checker.check_model(model)
    net = network_from_onnx_bytes(model.SerializeToString())
    assert net.dim == 2 and [g.depth for g in net.grades] == [2, 1]
    w = grades[0][0][0][0]
    assert net.grades[0].layers[0].weight[1][0] == Fraction(float(dtype(w[1, 0])))
    assert net.grades[1].readout_bias == Fraction(float(dtype(grades[1][1][1])))
    # the exact network evaluates like the model (float64 arithmetic on the same weights)
    x = [Fraction(1, 3), Fraction(2, 7)]
    h = np.array([float(v) for v in x])
    for (layers, (a, c)), out in zip(grades, net.exact_outputs(x)):
        for W, b in layers:
            h = np.maximum(np.asarray(W, dtype=dtype).astype(float) @ h
                           + np.asarray(b, dtype=dtype).astype(float), 0)
        expected = float(np.asarray(a, dtype=dtype).astype(float) @ h + float(dtype(c)))
        assert abs(float(out) - expected) < 1e-9


def test_committed_onnx_fixtures_equal_their_json_bit_for_bit():
    for stem in ("ridge2d_3g", "pl1d_4g"):
        a = read_onnx(os.path.join(MGDL, stem + ".onnx"))
        b = read_network(os.path.join(MGDL, stem + ".json"))
        assert _same_weights(a, b), stem


def test_same_report_through_onnx_and_json(tmp_path):
    reports = []
    for ext in ("onnx", "json"):
        path = tmp_path / f"r_{ext}.json"
        status = run(["check", "--target", os.path.join(MGDL, "pl1d.py"), "--network",
                      os.path.join(MGDL, f"pl1d_4g.{ext}"), "--report", str(path), "--quiet",
                      "--timeout", "5"])
        data = json.loads(path.read_text())
        for g in data["grades"]:
            g.pop("seconds")
            g.pop("regions_seconds")
        reports.append((status, data))
    assert reports[0] == reports[1]


def test_torch_onnx_export_matches_json(tmp_path):
    pytest.importorskip("torch")
    target = tmp_path / "t.py"
    target.write_text("from sympy import Abs\ndef f(x1, x2):\n    return Abs(x1 - x2)\n")
    out, model = tmp_path / "n.json", tmp_path / "n.onnx"
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mgdl_train.py"),
                    "--target", str(target), "--grades", "6x2,4x1,3x1", "--epochs", "1",
                    "--samples", "32", "--seed", "5", "-o", str(out), "--onnx", str(model)],
                   check=True, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                   timeout=120)
    assert _same_weights(read_onnx(str(model)), read_network(str(out)))


# --------------------------------------------------------------------------- refusals

def _bad_models():
    rng = np.random.default_rng(1)
    grades = _random_grades(rng, 2, [[3], [2]])
    tanh = _model(grades, 2)
    for node in tanh.graph.node:
        if node.op_type == "Relu":
            node.op_type = "Tanh"
            break
    nan = _model(grades, 2)
    arr = numpy_helper.to_array(nan.graph.initializer[0]).copy()
    arr[0, 1] = np.nan
    nan.graph.initializer[0].CopyFrom(numpy_helper.from_array(arr, nan.graph.initializer[0].name))
    shapes = _model(grades, 2, input_dim=3)
    vector = _model([(grades[0][0], (np.ones((2, 3)), np.zeros(2)))], 2)
    # grade 2 reading grade 1's first hidden layer instead of its last
    chain = _model(_random_grades(rng, 2, [[3, 3], [2]]), 2)
    for node in chain.graph.node:
        if node.op_type == "Gemm" and node.input[0] == "h1_2" and node.output[0].startswith("g2"):
            node.input[0] = "h1_1"
    half = _model(grades, 2)
    half.graph.initializer[0].CopyFrom(numpy_helper.from_array(
        numpy_helper.to_array(half.graph.initializer[0]).astype(np.float16),
        half.graph.initializer[0].name))
    twice = _model(grades, 2, outputs=["g1", "g1"])          # one grade listed twice
    bare = _model(grades, 2)
    next(n for n in bare.graph.node if n.op_type == "Relu").ClearField("input")
    return {"Tanh": tanh, "not finite": nan, "inputs": shapes, "one scalar": vector,
            "grade": chain, "float16": half, "same hidden layer": twice, "no inputs": bare}


@pytest.mark.parametrize("needle", ["Tanh", "not finite", "inputs", "one scalar", "grade",
                                    "float16", "same hidden layer", "no inputs"])
def test_bad_models_refused_with_one_line(tmp_path, capsys, needle):
    model = _bad_models()[needle]
    path = tmp_path / "bad.onnx"
    path.write_bytes(model.SerializeToString())
    out = tmp_path / "out.json"
    assert run(["import", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not out.exists()
    report = tmp_path / "r.json"
    assert run(["check", "--target", os.path.join(MGDL, "pl2d.py"), "--network", str(path),
                "--report", str(report)]) == 2
    assert not report.exists()


def test_truncated_and_external_refused(tmp_path, capsys):
    data = (open(os.path.join(MGDL, "ridge2d_3g.onnx"), "rb").read())
    for cut in (10, len(data) // 2, len(data) - 3):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(data[:cut])
        assert run(["import", str(path), "-o", str(tmp_path / "o.json")]) == 2
        assert not (tmp_path / "o.json").exists()
    model = onnx.load_from_string(data)
    model.graph.initializer[0].data_location = TensorProto.EXTERNAL
    with pytest.raises(NetworkError, match="external"):
        network_from_onnx_bytes(model.SerializeToString())
    capsys.readouterr()


_VALID = None


def _valid_bytes() -> bytes:
    global _VALID
    if _VALID is None:
        _VALID = _model(_random_grades(np.random.default_rng(0), 2, [[3, 2], [2]]), 2,
                        matmul=True).SerializeToString()
    return _VALID


def _never_a_traceback(data: bytes) -> None:
    try:
        network_from_onnx_bytes(data)
    except NetworkError as exc:
        assert "\n" not in exc.line()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data):
    _never_a_traceback(data)


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_fuzz_mutated_model(data):
    raw = bytearray(_valid_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(raw) // 2, len(raw)))
    _never_a_traceback(bytes(raw[:cut]))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_fuzz_random_graphs(data):
    """Graphs wired at random from the accepted operators (and one that is not), with
    initialisers of random shapes: a network or one NetworkError, never another exception."""
    draw = data.draw
    names, inits, nodes = ["x"], [], []
    for i in range(draw(st.integers(0, 4))):
        shape = draw(st.lists(st.integers(0, 3), min_size=0, max_size=3))
        value = np.asarray(draw(st.lists(st.floats(allow_nan=True, allow_infinity=True),
                                         min_size=int(np.prod(shape)),
                                         max_size=int(np.prod(shape)))), dtype=np.float64)
        inits.append(numpy_helper.from_array(value.reshape(shape), f"c{i}"))
        names.append(f"c{i}")
    ops = ["Gemm", "MatMul", "Add", "Relu", "Identity", "Flatten", "Reshape", "Tanh"]
    for i in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(ops))
        ins = draw(st.lists(st.sampled_from(names + ["missing"]), min_size=0, max_size=3))
        attrs = {"transB": draw(st.integers(0, 1))} if op == "Gemm" else {}
        nodes.append(helper.make_node(op, ins, [f"n{i}"], **attrs))
        names.append(f"n{i}")
    outs = draw(st.lists(st.sampled_from(names), min_size=0, max_size=3))
    graph = helper.make_graph(
        nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.DOUBLE,
                                                      [1, draw(st.integers(0, 3))])],
        [helper.make_tensor_value_info(o, TensorProto.DOUBLE, None) for o in outs], inits)
    _never_a_traceback(helper.make_model(graph).SerializeToString())
