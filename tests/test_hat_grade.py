"""`certify.engine.hat_grade.HatGrade`: construction grades kept as hats, layers made lazily.

Its layers, shapes and recognised hats must be exactly those of `realize.grade_layers` on
the same hats, and a network of plain `Grade`s with those very weights must get the same
report (the locality checker reads a HatGrade's hats directly instead of recognising them).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import example, given, settings, strategies as st

from certify.certificates import local
from certify.certificates.checker import check
from certify.construction import build
from certify.engine.hat_grade import HatArray, HatGrade
from certify.engine.network import Grade, Network
from certify.engine.realize import Hat, grade_layers, readout, recognise_grade
from certify.target import load_target

from checker_helpers import EXAMPLES

HATS = st.lists(st.tuples(st.lists(st.integers(0, 8), min_size=3, max_size=3),
                          st.integers(-9, 9)), max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), HATS, st.booleans())
@example(1, [], False)                                     # no hat: the final layer alone
@example(2, [([1, 2, 0], 0), ([3, 3, 0], 4)], True)        # a zero coefficient is dropped
@example(3, [([i, 8 - i, 4], i - 4) for i in range(6)], False)
def test_layers_shapes_and_hats_are_those_of_grade_layers(dim, raw, carried):
    hats = [Hat(tuple(Fraction(v, 8) for v in z[:dim]), Fraction(1, 8), Fraction(c, 7))
            for z, c in raw]
    inputs = dim + 2 if carried else dim
    grade = HatGrade(dim, hats, inputs)
    shapes = grade.shapes()                 # before the layers exist
    layers = grade_layers(dim, hats, inputs)
    assert shapes == [(layer.width, layer.inputs) for layer in layers]
    assert (grade.width, grade.depth, grade.features) == \
        (max(layer.width for layer in layers), len(layers), layers[-1].width)
    assert grade.layers == layers
    assert (grade.readout_weight, grade.readout_bias) == readout(dim)
    kept = [h for h in hats if h.c != 0]
    assert list(grade.hats) == kept
    assert recognise_grade(dim, [*layers], readout(dim), inputs) == kept


def test_report_equals_that_of_the_same_weights_as_plain_grades():
    target = load_target(f"{EXAMPLES}/peaks2d.py")
    network = build(target, 3)
    assert all(isinstance(g, HatGrade) for g in network.grades)
    plain = Network(network.dim, [Grade(list(g.layers), g.readout_weight, g.readout_bias)
                                  for g in network.grades], dict(network.meta))
    assert [r is None for r in local.recognise(plain)] == [False] * 3
    a = check(target, network, timeout=5).to_json()
    b = check(target, plain, timeout=5).to_json()
    for report in (a, b):
        for grade in report["grades"]:
            grade.pop("seconds", None)
    assert a["grades"] == b["grades"] and a["verdict"] == b["verdict"] == "proved"


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 3), st.sampled_from([2, 4, 8]), st.data())
def test_hat_array_is_its_hats(dim, n, data):
    """A `HatArray` iterates, indexes and slices as the list of its `Hat`s (zeros dropped),
    and its `nodal` sums (whole arrays, or Python ints past int64) are those the locality
    checker makes hat by hat in `Fraction`s, over the same denominator."""
    nodes = data.draw(st.lists(st.tuples(*[st.integers(0, n)] * dim), unique=True,
                               max_size=(n + 1) ** dim))
    big = data.draw(st.sampled_from([2 ** 20, 2 ** 62, 2 ** 70]))
    units = [data.draw(st.integers(-big, big)) for _ in nodes]
    bias = data.draw(st.sampled_from([Fraction(0), Fraction(5, 7), Fraction(-3, 2 ** 50)]))
    bits, h = 48, Fraction(1, n)
    array = HatArray(np.array(nodes, dtype=np.int64).reshape(-1, dim),
                     np.array(units, dtype=object if big > 2 ** 62 else np.int64), bits, h)
    hats = [Hat(tuple(Fraction(i, n) for i in z), h, Fraction(u, 2 ** bits))
            for z, u in zip(nodes, units) if u]
    assert len(array) == len(hats)
    assert array[:2] == hats[:2] and (not hats or array[-1] == hats[-1])
    assert list(array) == hats and array.on_grid(n) and array.on_grid(2 * n)
    plain = local.GridGrade(tuple(hats), n if hats else None, (Fraction(0),) * dim,
                            Fraction(1), Fraction(1), bias)
    fast = local.GridGrade(array, n if hats else None, (Fraction(0),) * dim,
                           Fraction(1), Fraction(1), bias)
    for grid in (n, 2 * n):
        want, got = plain.nodal(dim, grid), fast.nodal(dim, grid)
        assert got.den == want.den and got.num.dtype == want.num.dtype
        assert got.num.tolist() == want.num.tolist()
