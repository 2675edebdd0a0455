"""Writing a network: the document's text (`network_text`) is what `json.dumps` writes of
`network_to_json`, byte for byte (a construction grade's text from its hats:
tests/test_saved_construction.py)."""

from __future__ import annotations

import json
from fractions import Fraction

from certify.construction import build
from certify.engine.network import Grade, Network, network_text, network_to_json
from certify.engine.realize import Layer
from certify.target import load_target
from checker_helpers import example as example_path


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
