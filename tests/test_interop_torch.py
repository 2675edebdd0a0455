"""Trained MGDL fixtures and the PyTorch route: shapes chain, training is deterministic,
`from_torch` is exact (matches torch's float64 forward pass)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from certify.errors import NetworkError
from certify.engine.network import read_network
from certify.target import load_target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "mgdl", "*.json"))
                  + glob.glob(os.path.join(ROOT, "bench", "fixtures", "*.json")))


def test_fixtures_exist():
    names = {os.path.basename(p) for p in FIXTURES}
    assert {"pl1d_4g.json", "sine1d_4g.json", "pl2d_3g.json", "smooth2d_3g.json",
            "ridge2d_3g.json", "pl2d_128x2_3g.json"} <= names


@pytest.mark.parametrize("path", FIXTURES, ids=os.path.basename)
def test_fixture_loads_and_chains(path):
    net = read_network(path)
    inputs = net.dim
    for grade in net.grades:
        for layer in grade.layers:
            assert layer.inputs == inputs
            inputs = layer.width
        assert len(grade.readout_weight) == inputs
    target = load_target(os.path.join(ROOT, "tests", "fixtures", "mgdl", net.meta["target"]))
    assert target.dim == net.dim
    # the residual left by the whole network is small, as in real MGDL runs
    pts = np.random.default_rng(0).random((200, net.dim))
    residual = target.floats(pts) - net.outputs_floats(pts).sum(axis=1)
    assert np.sqrt(np.mean(residual ** 2)) < 0.05


# --------------------------------------------------------------------------- torch

def _tiny_pl(tmp_path):
    path = tmp_path / "t.py"
    path.write_text("from sympy import Abs, Rational\n"
                    "def f(x1, x2):\n    return Abs(x1 - x2) / 2 + Rational(1, 4) * x2\n")
    return str(path)


def _train(target, out):
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mgdl_train.py"),
                    "--target", target, "--grades", "8x2,4x1", "--epochs", "2",
                    "--samples", "64", "--batch", "16", "--seed", "3", "-o", out],
                   check=True, env=env, capture_output=True, timeout=120)


def test_training_is_deterministic(tmp_path):
    pytest.importorskip("torch")
    target = _tiny_pl(tmp_path)
    a, b = str(tmp_path / "a.json"), str(tmp_path / "b.json")
    _train(target, a)
    _train(target, b)
    assert open(a, "rb").read() == open(b, "rb").read()
    net = read_network(a)
    assert [g.width for g in net.grades] == [8, 4]
    assert net.grades[1].layers[0].inputs == 8


def _random_grades(torch, dim, spec, seed):
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        from mgdl_train import make_grade
    finally:
        sys.path.pop(0)
    torch.manual_seed(seed)
    grades, inputs = [], dim
    for widths in spec:
        grades.append(make_grade(torch, inputs, widths))
        inputs = widths[-1]
    return grades


@pytest.mark.parametrize("dim,spec", [(1, [[16, 16], [8]]), (2, [[8, 8], [8, 8], [4]])])
def test_from_torch_matches_forward_pass(dim, spec):
    torch = pytest.importorskip("torch")
    from certify import from_torch
    grades = _random_grades(torch, dim, spec, 7)
    net = from_torch(grades, dim)
    x = torch.rand(20, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h, outs = x, []
        for hidden, readout in grades:
            h = hidden(h)
            outs.append(readout(h)[:, 0])
        expected = torch.stack(outs, dim=1).numpy()
    for point, row in zip(x.tolist(), expected):
        exact = net.exact_outputs([Fraction(v) for v in point])
        assert np.max(np.abs(np.array([float(v) for v in exact]) - row)) < 1e-12
    # every weight is the exact rational of the float64 it came from
    w = grades[0][0][0].weight.detach().tolist()
    assert net.grades[0].layers[0].weight[0][0] == Fraction(w[0][0])


def test_from_torch_refuses_other_structures():
    torch = pytest.importorskip("torch")
    from certify import from_torch
    nn = torch.nn
    with pytest.raises(NetworkError, match="grade 1, layer 1"):
        from_torch([(nn.Sequential(nn.Linear(2, 4), nn.Tanh()), nn.Linear(4, 1))], 2)
    with pytest.raises(NetworkError, match="reads 3 inputs"):
        from_torch([(nn.Sequential(nn.Linear(3, 4), nn.ReLU()), nn.Linear(4, 1))], 2)
    with pytest.raises(NetworkError, match="readout"):
        from_torch([(nn.Sequential(nn.Linear(2, 4), nn.ReLU()), nn.Linear(4, 2))], 2)
    bad = nn.Linear(2, 4)
    with torch.no_grad():
        bad.weight[1, 0] = float("nan")
    with pytest.raises(NetworkError, match="not a finite number"):
        from_torch([(nn.Sequential(bad, nn.ReLU()), nn.Linear(4, 1))], 2)
