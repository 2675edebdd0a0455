"""`certify.engine.hat_grade.HatGrade`: construction grades kept as hats, layers made lazily.

Its layers, shapes and recognised hats must be exactly those of `realize.grade_layers` on
the same hats, and a network of plain `Grade`s with those very weights must get the same
report (the locality checker reads a HatGrade's hats directly instead of recognising them).
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import example, given, settings, strategies as st

from certify.certificates import local
from certify.certificates.checker import check
from certify.construction import build
from certify.engine.hat_grade import HatGrade
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
