"""Proposition F (proofs/THEOREM.md §15): a grade that keeps (G1) vanishes on the zero set
of f, so on a finest-grid simplex where that set is curved every grade is 0 and the
residual stays f. Guarded on the real construction (both schemes), and the float
estimate of the floor is pinned on targets whose answer is known."""

from fractions import Fraction

import numpy as np
import pytest

from certify.construction import build
from certify.engine.freudenthal import refine, simplex_vertices
from certify.engine.interpolant import floor_simplices, g1_floor_estimate
from certify.engine.numbers import parse_rational
from certify.target import load_target, target_from_expression


def _network_nodal(network, dim: int) -> tuple[np.ndarray, int]:
    """Exact nodal values of `Σ_k g_k` on the finest grid of the construction (ratio 2)."""
    values = np.full((2,) * dim, Fraction(0), dtype=object)
    level = 0
    for record in network.meta["levels"]:
        while level < record["level"]:
            values, level = refine(values, 2), level + 1
        h = parse_rational(record["mesh"])
        for hat in record["hats"]:
            node = tuple(int(parse_rational(z) / h) for z in hat["node"])
            values[node] += parse_rational(hat["c"])
    return values, 2 ** level


@pytest.mark.parametrize("scheme", ["surplus", "balanced"])
def test_grades_vanish_where_the_zero_set_is_curved(scheme):
    target = load_target("examples/peaks2d.py")
    network = build(target, 4, scheme=scheme)
    values, n = _network_nodal(network, 2)
    found = floor_simplices(target, n)
    assert found, "peaks2d's zero curves cross the grid"
    for cell, perm, _ in found:
        assert all(values[v] == 0 for v in simplex_vertices((cell, perm)))


def test_floor_is_zero_for_flat_or_missing_zero_sets():
    assert g1_floor_estimate(target_from_expression("x1 - x2/2 - 1/8"), 32) == 0.0
    assert g1_floor_estimate(target_from_expression("1 + x1*x2"), 16) == 0.0
    assert g1_floor_estimate(target_from_expression("sin(2*pi*x1)"), 64) == 0.0


def test_floor_is_first_order_on_a_circle():
    circle = target_from_expression("x1**2 + x2**2 - 1/4")
    coarse, fine = g1_floor_estimate(circle, 16), g1_floor_estimate(circle, 32)
    assert 0 < fine < coarse
    assert 1.6 < coarse / fine < 2.4           # halves with h: first order, not h^2
