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
