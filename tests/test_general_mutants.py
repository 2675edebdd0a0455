"""Construction networks re-parameterised so that hat recognition fails (the regions path
decides them): with one hat's coefficient shrunk, (G1) still holds and is *proved* in
seconds (the vertex-anchored test of `certify.certificates.region_path` decides the pieces whose
margin vanishes at a grid node); with it tripled, (G1) fails and is *refuted*."""

from __future__ import annotations

from fractions import Fraction

import pytest

from certify.certificates.checker import check
from certify.construction import build
from certify.engine.network import network_from_json, network_to_json
from certify.target import load_target

from checker_helpers import certainly_violated, example


def rescaled(network, grade: int, factor: Fraction):
    """The first hat block of `grade` with its ReLU rows doubled and the rows that read
    them halved (the same function, not the construction's weights), and that hat's
    coefficient multiplied by `factor`."""
    data = network_to_json(network)
    layers = data["grades"][grade - 1]["layers"]
    for i in range(len(layers) - 2):
        following = layers[i + 1]
        if following["bias"][-1] != "1":
            continue
        rows = [j for j, w in enumerate(following["weight"][-1]) if w != "0"]
        for j in rows:
            layers[i]["weight"][j] = [str(Fraction(w) * 2) for w in layers[i]["weight"][j]]
            layers[i]["bias"][j] = str(Fraction(layers[i]["bias"][j]) * 2)
        following["weight"][-1] = [w if w == "0" else str(Fraction(w) / 2)
                                   for w in following["weight"][-1]]
        for row in layers[i + 2]["weight"]:
            if row[-1] != "0":
                row[-1] = str(Fraction(row[-1]) * factor)
                break
        break
    return network_from_json(data)


@pytest.mark.parametrize("name, grades", [("sine", 4), ("peaks2d", 2)])
def test_unrecognised_grade_keeping_g1_is_proved(name, grades):
    target = load_target(example(name))
    network = build(target, grades)
    mutant = rescaled(network, grades, Fraction(99, 100))
    same = rescaled(network, grades, Fraction(1))
    for x in ((Fraction(1, 3),) * target.dim, (Fraction(5, 7),) * target.dim):
        assert same.exact_outputs(x) == network.exact_outputs(x)
    report = check(target, mutant)
    g = report.grades[-1]
    assert g.path == "regions"
    assert g.monotone == "proved" and g.no_overshoot == "proved"
    assert report.verdict == "proved"


def test_unrecognised_grade_overshooting_is_refuted():
    target = load_target(example("sine"))
    network = build(target, 3)
    mutant = rescaled(network, 3, Fraction(3))
    report = check(target, mutant)
    g = report.grades[-1]
    assert g.path == "regions" and g.monotone == "refuted"
    assert certainly_violated(target, mutant, 3, g.counterexample.x, "monotone")
