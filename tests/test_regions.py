"""The regions path: exact linear regions, claims decided at their vertices, exact norms.

- the regions of random networks cover the cube exactly and carry the right affine maps;
- integrals over polytopes agree with SymPy, and a piecewise-linear target's L^1 and L^2
  norms computed on its own regions agree with SymPy integration;
- a (G1) violation that sits only at a region vertex is refuted there, with and without
  sampling; claims that hold with a margin of 1e-9 are proved; the mirror case is refuted;
- a grade that computes zero although its weights do not look it is trivial: its (G2) is
  never refuted;
- every counterexample is re-checked independently (`checker_helpers`).
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
import sympy
from flint import fmpq
from hypothesis import example, given, settings, strategies as st

from certify.certificates.checker import check
from certify.engine.network import Grade, Network
from certify.engine.polytope import abs_power_integral, box, cube, evaluate, frac
from certify.engine.realize import Layer
from certify.engine.regions import RegionBudget, grade_regions, target_regions, _Clock
from certify.target import target_from_function

from checker_helpers import certainly_violated

F = Fraction


def random_network(dim: int, widths: list[list[int]], seed: int, scale: float = 0.3) -> Network:
    """Float weights stored exactly, grades stacked on the previous grade's last layer."""
    rng = np.random.default_rng(seed)
    grades, inputs = [], dim
    for block in widths:
        layers = []
        for w in block:
            weight = rng.normal(size=(w, inputs)) / np.sqrt(inputs)
            bias = rng.normal(size=w) * 0.3
            layers.append(Layer(tuple(tuple(F(float(v)) for v in row) for row in weight),
                                tuple(F(float(v)) for v in bias)))
            inputs = w
        readout = rng.normal(size=inputs) * scale / np.sqrt(inputs)
        grades.append(Grade(layers, tuple(F(float(v)) for v in readout), F(float(rng.normal()) / 10)))
        scale *= 0.3
    return Network(dim, grades, {})


def one_grade(rows, bias, readout, readout_bias, dim=1) -> Network:
    layer = Layer(tuple(tuple(F(v) for v in r) for r in rows), tuple(F(b) for b in bias))
    return Network(dim, [Grade([layer], tuple(F(a) for a in readout), F(readout_bias))], {})


# --------------------------------------------------------------------------- geometry

@pytest.mark.parametrize("dim, ps", [(1, (1, 2, 3)), (2, (1, 2)), (3, (2, 4))])
def test_polytope_integrals_match_sympy(dim, ps):
    xs = sympy.symbols(f"x1:{dim + 1}", real=True)
    row = tuple(fmpq(c) for c in (3, -2, 1)[:dim]) + (fmpq(-1, 3),)
    expr = sum(c * x for c, x in zip((3, -2, 1), xs)) - sympy.Rational(1, 3)
    for p in ps:
        ours = abs_power_integral(cube(dim), row, p)
        if p % 2 == 0:        # |a|^p = a^p: a polynomial SymPy integrates at once
            integrand = sympy.expand(expr ** p)
        else:
            integrand = sympy.Piecewise((expr ** p, expr >= 0), ((-expr) ** p, True))
        theirs = sympy.integrate(integrand, *[(x, 0, 1) for x in xs])
        assert frac(ours) == Fraction(str(sympy.nsimplify(theirs))), (dim, p)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1, 2, 3]))
@example(0, 2)
@example(7, 3)
def test_regions_cover_the_cube_with_exact_affine_data(seed, dim):
    widths = {1: [[8, 6], [5]], 2: [[6, 6], [4]], 3: [[5], [4]]}[dim]
    network = random_network(dim, widths, seed)
    rng = random.Random(seed)
    for k, regions in enumerate(grade_regions(network), start=1):
        assert sum((r.poly.volume() for r in regions), fmpq(0)) == 1
        for region in rng.sample(regions, min(8, len(regions))):
            c = region.poly.centroid_point()
            outs = network.exact_outputs([frac(v) for v in c])[:k]
            assert frac(evaluate(region.g, c)) == outs[-1]
            assert frac(evaluate(region.previous, c)) == sum(outs[:-1], F(0))


def test_degenerate_hyperplanes_and_inexact_weights_are_decided_exactly():
    # Rational weights with no float (1/3, 1/7) and hyperplanes through region vertices and
    # along edges: the float filter cannot decide these signs; the exact path must, and the
    # regions must still tile the cube with the network's own affine maps.
    t = F(1, 3)
    layer1 = Layer(((F(1), F(0)), (F(0), F(1)), (F(1), F(1)), (F(1), F(-1)), (t, F(1, 7))),
                   (-t, -t, -2 * t, F(0), F(-2, 21)))
    # the last neuron is 2^-70 (2/3) - 2^-80 > 0 at (1, 1), where floats see 2/3 - 2/3 - 2^-80
    tiny = F(1, 2 ** 70)
    layer2 = Layer(((F(1), F(-1), F(0), F(0), F(0)), (F(0), F(0), F(1), F(-1), F(1)),
                    (t, t, F(0), F(0), F(-1)), (1 + tiny, F(-1), F(0), F(0), F(0))),
                   (F(0), F(-1, 9), F(0), -tiny / 2 ** 10))
    readout = (F(1), F(-1, 3), F(2, 7), F(2 ** 70))
    network = Network(2, [Grade([layer1, layer2], readout, F(1, 5)),
                          Grade([Layer(((F(1), F(1), F(-1), F(1)),), (F(-1, 11),))], (t,),
                                F(0))], {})
    for k, regions in enumerate(grade_regions(network), start=1):
        assert sum((r.poly.volume() for r in regions), fmpq(0)) == 1
        for region in regions:
            for point in [region.poly.centroid_point()] + list(region.poly.vertices):
                outs = network.exact_outputs([frac(v) for v in point])[:k]
                assert frac(evaluate(region.g, point)) == outs[-1]
                assert frac(evaluate(region.previous, point)) == sum(outs[:-1], F(0))


def test_region_budget_is_refused_not_guessed():
    network = random_network(2, [[16, 16]], seed=1)
    with pytest.raises(RegionBudget):
        for _ in grade_regions(network, max_regions=5):
            pass


def test_bisecting_a_box_keeps_volume():
    b = box((fmpq(0), fmpq(1, 4)), (fmpq(1, 2), fmpq(1)))
    upper, lower = b.split_by((fmpq(1), fmpq(1), fmpq(-1)), "cut")
    assert upper.volume() + lower.volume() == fmpq(3, 8)


# --------------------------------------------------------------------------- PL targets

@pytest.mark.parametrize("shift, p", [(0, 1), (0, 2), (sympy.Rational(1, 5), 2)])
def test_pl_target_norms_are_exact_against_sympy(shift, p):
    # f = |x1 - x2|/2 + max(x1, x2)/4 - shift is affine on the two triangles x1 >< x2;
    # there |f|^p is a polynomial (f >= 0 when shift = 0; p even otherwise) that SymPy
    # integrates exactly, while certify splits where f changes sign and uses moments.
    x1, x2 = sympy.symbols("x1 x2", real=True)

    def f(a, b):
        return sympy.Abs(a - b) / 2 + sympy.Max(a, b) / 4 - shift

    target = target_from_function(f, "ridge")
    pieces = target_regions(target, _Clock(10_000, None))
    ours = sum((abs_power_integral(poly, row, p) for poly, row in pieces), fmpq(0))
    lower = (3 * x1 / 4 - x2 / 2 - shift) ** p          # on x2 <= x1
    upper = (3 * x2 / 4 - x1 / 2 - shift) ** p          # on x1 <= x2
    theirs = sympy.integrate(sympy.expand(lower), (x2, 0, x1), (x1, 0, 1)) + \
        sympy.integrate(sympy.expand(upper), (x1, 0, x2), (x2, 0, 1))
    assert frac(ours) == Fraction(str(theirs))


@pytest.fixture(scope="module")
def kink():
    """f(x) = |x - 1/3|: zero only at 1/3, a kink of the target."""
    return target_from_function(lambda x1: sympy.Abs(x1 - sympy.Rational(1, 3)), "kink")


@pytest.mark.parametrize("falsify", [True, False])
def test_violation_only_at_a_region_vertex_is_refuted(kink, falsify):
    # g = 1e-9 everywhere: |e_1| > |e_0| only for |x - 1/3| < 5e-10, around the kink
    eps = F(1, 10 ** 9)
    network = one_grade([[1]], [0], [0], eps)
    report = check(kink, network, p=[1, 2], timeout=5, falsify=falsify)
    g = report.grades[0]
    assert g.path == "regions" and g.monotone == "refuted"
    assert certainly_violated(kink, network, 1, g.counterexample.x, "monotone")
    assert abs(g.counterexample.x[0] - F(1, 3)) < eps
    assert report.exit_status == 1


@pytest.mark.parametrize("falsify", [True, False])
def test_claims_holding_by_1e_9_are_proved_and_the_mirror_refuted(falsify):
    target = target_from_function(lambda x1: x1 + sympy.Rational(1, 10), "line")
    eps = F(1, 10 ** 9)
    under = one_grade([[1]], [0], [1], F(1, 10) - eps)      # e_1 = 1e-9 > 0
    report = check(target, under, p=[1, 2], timeout=5, falsify=falsify)
    g = report.grades[0]
    assert (g.path, g.monotone, g.no_overshoot, report.verdict) == \
        ("regions", "proved", "proved", "proved")
    assert all(lp.status == "proved" and lp.decrease_lower > 0 for lp in g.lp)
    over = one_grade([[1]], [0], [1], F(1, 10) + eps)       # e_1 = -1e-9: overshoot
    report = check(target, over, p=[1, 2], timeout=5, falsify=falsify)
    g = report.grades[0]
    assert (g.monotone, g.no_overshoot) == ("proved", "refuted")
    assert certainly_violated(target, over, 1, g.no_overshoot_counterexample.x, "no_overshoot")
    assert all(lp.status == "proved" for lp in g.lp)


@pytest.mark.parametrize("falsify", [True, False])
@pytest.mark.parametrize("rows, bias, readout, readout_bias", [
    ([[1], [1]], [0, 0], [1, -1], 0),              # relu(x) - relu(x)
    ([[-1], [1]], [1, 0], [1, 1], -1),            # φ_0 + φ_1 - 1: the partition of unity
])
def test_zero_grade_not_zero_by_its_weights_owes_no_decrease(kink, falsify, rows, bias,
                                                             readout, readout_bias):
    network = one_grade(rows, bias, readout, readout_bias)
    report = check(kink, network, p=[1, 2], timeout=5, falsify=falsify)
    g = report.grades[0]
    assert g.path == "regions" and g.nontrivial is False
    assert g.monotone == "proved"
    assert all(lp.status != "refuted" for lp in g.lp)
    assert report.verdict != "refuted"


def test_regions_and_solver_agree_on_a_random_network():
    target = target_from_function(lambda a, b: sympy.Abs(a - b) / 2 + sympy.Max(a, b) / 4,
                                  "ridge")
    network = random_network(2, [[6, 6], [4]], seed=5, scale=0.05)
    by_regions = check(target, network, p=[1], timeout=5)
    by_solver = check(target, network, p=[1], timeout=20, regions=False)
    for a, b in zip(by_regions.grades, by_solver.grades):
        assert a.path == "regions" and b.path == "general"
        if b.monotone != "unknown":
            assert a.monotone == b.monotone
        assert a.monotone != "unknown"
        for witness in (a.counterexample, b.counterexample):
            if witness is not None:
                assert certainly_violated(target, network, a.grade, witness.x, "monotone")


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(1, 4), st.integers(0, 10 ** 6))
@example(3, 2, 3, 0)
def test_exact_features_of_a_layer_are_their_definition(n_out, n_in, cols, seed):
    """`activations.Layer.apply` (whole-matrix products) gives `D (W F + b)` entry by entry
    in rationals (`b` in the last, constant column), over the denominator
    `lcm(den W · den F, den b)`, for every activation pattern `D`."""
    import math
    from flint import fmpz, fmpz_mat
    from certify.engine.activations import Layer as ExactLayer
    rng = random.Random(seed)

    def q():
        return Fraction(rng.randint(-10 ** 6, 10 ** 6), rng.choice([1, 3, 2 ** 20, 10 ** 9]))
    weight = [[q() for _ in range(n_in)] for _ in range(n_out)]
    bias = [q() for _ in range(n_out)]
    layer = ExactLayer(weight, bias)
    nums = [rng.randint(-10 ** 30, 10 ** 30) for _ in range(n_in * cols)]
    den = rng.choice([1, 7, 2 ** 40])
    features = [[Fraction(nums[j * cols + c], den) for c in range(cols)] for j in range(n_in)]
    for active in ([True] * n_out, [False] * n_out,
                   [rng.random() < 0.5 for _ in range(n_out)]):
        out, scale = layer.apply((fmpz_mat(n_in, cols, nums), fmpz(den)), active)
        assert int(scale) == math.lcm(int(layer.denominator) * den, int(layer.bias_denominator))
        for i in range(n_out):
            for c in range(cols):
                want = sum(weight[i][j] * features[j][c] for j in range(n_in)) \
                    + (bias[i] if c == cols - 1 else 0)
                assert Fraction(int(out[i, c]), int(scale)) == (want if active[i] else 0)
