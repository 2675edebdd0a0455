"""Writing a network: a construction grade's layer texts made from its hats
(`realize.grade_layer_texts`) are the texts of its layers, and the document's text
(`network_text`) is what `json.dumps` writes, byte for byte."""

from __future__ import annotations

import json
from fractions import Fraction

from hypothesis import example, given, settings, strategies as st

from certify.construction import build
from certify.engine import realize
from certify.engine.network import Grade, Network, network_text, network_to_json
from certify.engine.numbers import format_rational
from certify.engine.realize import Hat, Layer
from certify.target import load_target
from checker_helpers import example as example_path


def _text(w):
    return "0" if not w else format_rational(w)


def _layer_text(layer):
    return {"weight": [[_text(w) for w in row] for row in layer.weight],
            "bias": [_text(b) for b in layer.bias]}


@st.composite
def _hats(draw):
    dim = draw(st.integers(1, 3))
    n = draw(st.sampled_from([4, 8, 16]))
    meshes = [Fraction(1, n), Fraction(1, 2 * n)]
    count = draw(st.integers(0, 7))
    hats = []
    for _ in range(count):
        h = draw(st.sampled_from(meshes))
        z = tuple(Fraction(draw(st.integers(0, int(1 / h))), int(1 / h)) for _ in range(dim))
        c = Fraction(draw(st.integers(-300, 300)), draw(st.sampled_from([1, 64, 2 ** 48])))
        hats.append(Hat(z, h, c))
    return dim, hats


@settings(max_examples=60, deadline=None)
@given(_hats())
@example((1, [Hat((Fraction(1, 2),), Fraction(1, 4), Fraction(1))] * 3))
@example((2, [Hat((Fraction(0), Fraction(1)), Fraction(1, 8), Fraction(-3, 64)),
              Hat((Fraction(1, 8), Fraction(1, 8)), Fraction(1, 16), Fraction(0)),
              Hat((Fraction(1), Fraction(0)), Fraction(1, 8), Fraction(5, 2))]))
def test_layer_texts_from_the_hats_are_the_layers_texts(case):
    dim, hats = case
    for inputs in (dim, dim + 2):
        want = [_layer_text(layer) for layer in realize.grade_layers(dim, hats, inputs)]
        assert realize.grade_layer_texts(dim, hats, inputs, _text) == want


def _dumps(network):
    return json.dumps(network_to_json(network), separators=(",", ":"))


def test_network_text_is_the_json_encoders_text():
    built = build(load_target(example_path("peaks2d")), 3)
    assert network_text(built) == _dumps(built)
    # layers of arbitrary rationals, a wide bias, meta with text that needs escaping
    layer = Layer(((Fraction(-7, 3), Fraction(10 ** 40)), (Fraction(0), Fraction(1, 2 ** 70))),
                  (Fraction(5), Fraction(-1)))
    other = Network(2, [Grade([layer], (Fraction(1), Fraction(-2, 9)), Fraction(3, 4))],
                    {"note": 'quote " backslash \\ é', "list": [1, 2.5, None]})
    assert network_text(other) == _dumps(other)
