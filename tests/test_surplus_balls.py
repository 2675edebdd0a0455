"""`surplus.arb_residual_units` makes the ball of `f` at a node of a dyadic grid from the
exact coordinate balls `arb(i)/n`: the very ball `VertexValues.ball` (`Target.ball` of the
rational point) gives, so its rounded bounds are those of `arb_residual`."""

from __future__ import annotations

import itertools
import os
from fractions import Fraction

import pytest
from flint import arb

from certify import surplus
from certify.certificates.anchored import VertexValues
from certify.target import load_target

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)


@pytest.mark.parametrize("path", ["examples/sine.py", "examples/peaks2d.py",
                                  "examples/smooth3d.py", "tests/targets/kink.py"])
def test_dyadic_node_balls_are_the_vertex_balls(path):
    target = load_target(os.path.join(ROOT, path))
    vertices = VertexValues(target)
    for n in (1, 4, 8):
        for node in itertools.islice(itertools.product(range(n + 1), repeat=target.dim), 40):
            want = vertices.ball(tuple(Fraction(i, n) for i in node))
            got = target.evaluate(surplus.BALL, [arb(i) / n for i in node])
            assert (got.mid(), got.rad()) == (want.mid(), want.rad())
            value = Fraction(node[0] - n, 3 * n) + Fraction(1, 2 ** 50)
            a, b = surplus.arb_residual(vertices, n, node, value)
            expected = surplus._units(a, 48) if a > 0 else surplus._units(b, 48) if b < 0 else 0
            assert surplus.arb_residual_units(vertices, n, node, value.numerator,
                                              value.denominator, 48) == expected


@pytest.mark.parametrize("path", ["examples/sine.py", "examples/peaks2d.py",
                                  "examples/smooth3d.py", "tests/targets/kink.py",
                                  "examples/pl2d.py"])
def test_residual_units_at_many_nodes_are_the_node_by_node_units(path):
    """`arb_residual_units_many` against `arb_residual_units`: values near f (balls that
    decide), equal to f where it is exact (the fallback), other signs, non-dyadic grids."""
    target = load_target(os.path.join(ROOT, path))
    vertices = VertexValues(target)
    for n in (8, 6, 1):
        nodes = list(itertools.islice(itertools.product(range(n + 1), repeat=target.dim), 60))
        den = 2 ** 60
        nums = []
        for j, node in enumerate(nodes):
            ball = vertices.ball(tuple(Fraction(i, n) for i in node))
            near = round(float(ball.mid()) * den)
            exact = vertices.exact(tuple(Fraction(i, n) for i in node))
            if exact is not None and j % 3 == 0 and (exact * den).denominator == 1:
                nums.append(int(exact * den))               # r(z) = 0 exactly
            else:
                nums.append(near + (j % 5 - 2) * 2 ** (j % 40))
        want = [surplus.arb_residual_units(vertices, n, node, num, den, 48)
                for node, num in zip(nodes, nums)]
        assert surplus.arb_residual_units_many(vertices, n, nodes, nums, den, 48) == want
    assert surplus.arb_residual_units_many(vertices, 4, [], [], 2, 48) == []


def test_surplus_units_refine_many_is_refine_node_by_node():
    """`surplus_units` with `refine_many` gives the node-by-node `refine` result, in order,
    float and rational intervals alike."""
    import numpy as np
    rng = np.random.default_rng(7)
    lo = rng.uniform(-1, 1, 300) * 2.0 ** -rng.integers(0, 60, 300)
    hi = lo + rng.choice([0.0, 2.0 ** -50, 2.0 ** -46, 1e-3], 300)
    lo[5], hi[5] = -0.5, 0.5                      # contains 0
    lo[7], hi[7] = 2.0 ** 70, 2.0 ** 70 + 2 ** 20  # huge
    calls = []

    def refine(node):
        calls.append(node)
        return 1000 + 7 * node[0] + node[1]

    shape = (15, 20)
    want = surplus.surplus_units((lo, hi), shape, 48, refine)
    asked = len(calls)
    got = surplus.surplus_units((lo, hi), shape, 48, refine,
                                lambda nodes: [refine(node) for node in nodes])
    assert asked and np.array_equal(got, want) and calls[asked:] == calls[:asked]
    exact_lo = np.array([Fraction(v) for v in lo], dtype=object)
    exact_hi = np.array([Fraction(v) for v in hi], dtype=object)
    assert np.array_equal(surplus.surplus_units((exact_lo, exact_hi), shape, 48, refine,
                                                lambda nodes: [refine(n) for n in nodes]),
                          surplus.surplus_units((exact_lo, exact_hi), shape, 48, refine))
