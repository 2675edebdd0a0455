"""The general path: networks that are not this toolkit's construction.

A hand-made two-grade network whose (G1) holds but is not a sum of grid hats is proved;
one that fails only on a tiny interval around an irrational-looking point (too small for
sampling to hit) is refuted by the solver with an exact witness; a small "trained"
network with float weights goes through in seconds.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from certify.certificates.checker import check
from certify.engine.network import network_from_json
from certify.target import load_target

from checker_helpers import certainly_violated, example

P = Fraction("0.70710678")


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    path = tmp_path_factory.mktemp("targets") / "identity.py"
    path.write_text("LIPSCHITZ = 1\ndef f(x1):\n    return x1\n")
    return load_target(str(path))


def tent_network(height: Fraction, half_width: Fraction, centre: Fraction = P):
    """Grade 1: x/2. Grade 2: a tent of the given height on [centre ± half_width]."""
    s = height / half_width
    return network_from_json({"format": "mgdl-relu/1", "dim": 1, "meta": {}, "grades": [
        {"layers": [{"weight": [["1"]], "bias": ["0"]}],
         "readout": {"weight": ["1/2"], "bias": "0"}},
        {"layers": [{"weight": [["1"], ["1"], ["1"]],
                     "bias": [str(-(centre - half_width)), str(-centre),
                              str(-(centre + half_width))]}],
         "readout": {"weight": [str(s), str(-2 * s), str(s)], "bias": "0"}}]})


@pytest.mark.parametrize("falsify", [True, False])
@pytest.mark.parametrize("regions, path", [(False, "general"), (True, "regions")])
def test_g1_holding_beyond_hats_is_proved(identity, falsify, regions, path):
    # e_1 = x/2 and 0 <= g_2 <= 2 e_1 but g_2 > e_1 near the peak: (G1) holds,
    # no-overshoot does not, and (G2) follows from the pieces without overshoot.
    network = tent_network(Fraction(6, 10), Fraction(1, 10))
    report = check(identity, network, falsify=falsify, regions=regions)
    g = report.grades[-1]
    assert g.path == path
    assert g.monotone == "proved"
    assert g.no_overshoot == "refuted"
    assert certainly_violated(identity, network, 2, g.no_overshoot_counterexample.x,
                              "no_overshoot")
    assert report.verdict == "proved"


@pytest.mark.parametrize("falsify", [True, False])
@pytest.mark.parametrize("regions", [False, True])
def test_failure_at_one_irrational_looking_point_is_refuted(identity, falsify, regions):
    # the tent peaks 1e-7 above 2 e_1 = x at x = 0.70710678: violated on an interval of
    # width about 1e-11, which sampling never hits.
    network = tent_network(P + Fraction(1, 10 ** 7), Fraction(1, 10 ** 4))
    report = check(identity, network, falsify=falsify, regions=regions)
    g = report.grades[-1]
    assert g.monotone == "refuted"
    x = g.counterexample.x[0]
    assert abs(x - P) < Fraction(1, 10 ** 9)
    assert certainly_violated(identity, network, 2, (x,), "monotone")
    assert report.exit_status == 1


def test_unprovable_decrease_is_unknown_not_proved(identity):
    # (G1) holds but the tent is far narrower than the norm grid of the solver path:
    # (G2) stays unknown there; on its exact regions the decrease is proved
    network = tent_network(P - Fraction(1, 10 ** 6), Fraction(1, 10 ** 4))
    report = check(identity, network, regions=False)
    assert report.grades[-1].monotone == "proved"
    assert report.verdict == "unknown" and report.exit_status == 3
    report = check(identity, network)
    assert report.grades[-1].path == "regions"
    assert all(lp.status == "proved" and lp.method.startswith("regions")
               for lp in report.grades[-1].lp)
    assert report.verdict == "proved"


def trained_network(target, grades=3, width=8, seed=1):
    """Grades of two random ReLU layers, readouts fitted to the residual by least squares."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, 400)[:, None]
    residual = target.floats(x)
    features = x
    doc = {"format": "mgdl-relu/1", "dim": 1, "meta": {"trained": True}, "grades": []}
    for _ in range(grades):
        layers = []
        h = features
        for _ in range(2):
            w = rng.normal(size=(width, h.shape[1]))
            b = rng.normal(size=width) * 0.5
            h = np.maximum(h @ w.T + b, 0)
            layers.append({"weight": w.tolist(), "bias": b.tolist()})
        a, *_ = np.linalg.lstsq(np.c_[h, np.ones(len(h))], residual, rcond=None)
        residual = residual - np.c_[h, np.ones(len(h))] @ a
        doc["grades"].append({"layers": layers,
                              "readout": {"weight": a[:-1].tolist(), "bias": float(a[-1])}})
        features = h
    return network_from_json(json.loads(json.dumps(doc)))


@pytest.mark.parametrize("regions, path", [(False, "general"), (True, "regions")])
def test_small_trained_network_goes_through_the_general_path(regions, path):
    target = load_target(example("sine"))
    network = trained_network(target)
    report = check(target, network, timeout=5, regions=regions)
    assert [g.path for g in report.grades] == [path] * 3
    for k, g in enumerate(report.grades, start=1):
        assert g.monotone in (("proved", "refuted") if regions else
                              ("proved", "refuted", "unknown"))
        assert g.sup_lower <= g.sup_upper
        if g.counterexample is not None:
            assert certainly_violated(target, network, k, g.counterexample.x, "monotone")
