"""The fast paths of issue 12 stay rigorous: vectorised enclosures contain the true values
and agree with the Arb path, the sampler from nodal values matches the layers, sup lower
bounds from the grid plan are rigorous, and the checker's verdicts do not depend on which
path computed the enclosures."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

import numpy as np
import pytest
import sympy

from certify.certificates import checker, local

from certify.engine import vectorised, work_units
from certify.construction import build
from certify.engine.enclosure import simplex_residual_bounds, sub_boxes
from certify.engine.freudenthal import cell_simplices, simplex_vertices
from certify.engine.numbers import ball_bounds, to_ball
from certify.engine.residual import abs_residual_lower
from certify.target import load_target, target_from_function

from checker_helpers import example


def _random_values(rng: random.Random, n: int, dim: int, dyadic: bool) -> np.ndarray:
    values = np.empty((n + 1,) * dim, dtype=object)
    for index in itertools.product(range(n + 1), repeat=dim):
        if dyadic:
            values[index] = Fraction(rng.randint(-2 ** 40, 2 ** 40), 2 ** 40)
        else:
            values[index] = Fraction(rng.randint(-10 ** 9, 10 ** 9), rng.randint(1, 10 ** 6) * 3)
    return values


def _point_in(rng: random.Random, simplex, h: Fraction) -> tuple[Fraction, ...]:
    """A random exact point of the simplex: a convex combination of its vertices."""
    weights = [Fraction(rng.randint(0, 50)) for _ in range(len(simplex[0]) + 1)]
    if not any(weights):
        weights[0] = Fraction(1)
    total = sum(weights)
    verts = simplex_vertices(simplex)
    return tuple(sum(w * v[i] for w, v in zip(weights, verts)) * h / total
                 for i in range(len(simplex[0])))


def _affine_value(values, simplex, h, x) -> Fraction:
    """The interpolant at `x` from barycentric coordinates along the vertex path."""
    cell, perm = simplex
    t = [x[i] / h - cell[i] for i in range(len(cell))]
    verts = simplex_vertices(simplex)
    total = values[verts[0]]
    for j, axis in enumerate(perm):
        total += (values[verts[j + 1]] - values[verts[j]]) * t[axis]
    return total


@pytest.mark.parametrize("name,n,dyadic", [
    ("sine", 16, True), ("sine", 12, False), ("holder", 8, True), ("runge", 8, False),
    ("peaks2d", 4, True), ("pl2d", 3, False), ("smooth3d", 2, True)])
def test_vectorised_enclosures_contain_the_true_values(name, n, dyadic):
    target = load_target(example(name))
    dim = target.dim
    k = {1: 4, 2: 2}.get(dim, 1)
    rng = random.Random(hash((name, n, dyadic)) & 0xffff)
    values = _random_values(rng, n, dim, dyadic)
    vectorised.clear_cache()
    bounds = vectorised.residual_bounds(target, values, n, k)
    assert bounds is not None
    # the same formula as the Arb path, before the second-order bounds (certify.engine.curvature,
    # smooth targets in d >= 2) are intersected in
    plain = vectorised.residual_bounds_from(vectorised.f_data(target, n * k),
                                            vectorised.nodal_interval(values), n, k)
    h = Fraction(1, n)
    cells = list(itertools.product(range(n), repeat=dim))
    for cell in rng.sample(cells, min(len(cells), 6)):
        boxes = sub_boxes(target, cell, h, k)
        for simplex in cell_simplices(cell):
            lo = Fraction(float(bounds[simplex[1]][0][cell]))
            hi = Fraction(float(bounds[simplex[1]][1][cell]))
            # every exact point of the simplex: f(x) - A(x) in [lo, hi] (Arb ball inside)
            points = [tuple(Fraction(v) * h for v in vert) for vert in simplex_vertices(simplex)]
            points += [_point_in(rng, simplex, h) for _ in range(8)]
            for x in points:
                r_lo, r_hi = ball_bounds(target.ball(x) - to_ball(_affine_value(values, simplex,
                                                                                h, x)))
                assert lo <= r_lo and r_hi <= hi, (name, simplex, x)
            assert Fraction(float(plain[simplex[1]][0][cell])) <= lo
            assert hi <= Fraction(float(plain[simplex[1]][1][cell]))
            # and the Arb path gives nearly the same enclosure (never far looser or tighter)
            lo = Fraction(float(plain[simplex[1]][0][cell]))
            hi = Fraction(float(plain[simplex[1]][1][cell]))
            a_lo, a_hi = simplex_residual_bounds(simplex, h, values, boxes, k)
            scale = max(abs(a_lo), abs(a_hi), Fraction(1, 10 ** 6))
            assert abs(lo - a_lo) <= scale * Fraction(1, 10 ** 6)
            assert abs(hi - a_hi) <= scale * Fraction(1, 10 ** 6)


def test_vectorised_falls_back_when_not_applicable():
    target = load_target(example("sine"))
    values = _random_values(random.Random(1), 4, 1, True)
    assert vectorised.residual_bounds(target, values, 4, 3) is None       # k not 2^j
    sqrt_target = target_from_function(lambda x1: sympy.sqrt(x1 ** 2 + sympy.Rational(1, 4)))
    assert vectorised.residual_bounds(sqrt_target, values, 4, 4) is not None


def test_float_data_of_a_blown_up_enclosure_is_not_used():
    data = vectorised.FData((np.array([0.0]), np.array([np.inf])), (np.array([0.0]),
                            np.array([1.0])), [(np.array([0.0]), np.array([0.0]))],
                            np.array([True]))
    assert not data.finite


@pytest.fixture(scope="module")
def sine_network():
    target = load_target(example("sine"))
    return target, build(target, 7)


def test_sampler_from_nodal_values_matches_the_layers(sine_network):
    target, network = sine_network
    recognised = local.recognise(network)
    plan = local.grid_plan(network, recognised)
    points = checker.sample_points(network, plan, 300, 0)
    fast = checker.Sampler(target, network, points, plan)
    slow = checker.Sampler(target, network, points)
    assert np.allclose(fast.outputs, slow.outputs, atol=1e-12, rtol=0)


def test_sup_lower_from_the_plan_is_rigorous(sine_network):
    target, network = sine_network
    recognised = local.recognise(network)
    plan = local.grid_plan(network, recognised)
    state = checker._State(target, network, plan, recognised, None, checker.Options())
    rng = random.Random(3)
    for k in range(1, len(network.grades) + 1):
        x = (Fraction(rng.randint(0, 1000), 1000),)
        fast = checker._sup_lower(state, k, x)
        assert fast >= abs_residual_lower(target, network, k, x)
        e = target.ball(x) - to_ball(sum(network.exact_outputs(x)[:k], Fraction(0)))
        assert fast <= ball_bounds(abs(e))[1]


@pytest.mark.parametrize("scale", [Fraction(-1), Fraction(3, 2), Fraction(4)])
def test_verdicts_do_not_depend_on_the_enclosure_path(sine_network, monkeypatch, scale):
    """Networks wrong on purpose (and a right one) get the same statuses from both paths."""
    from checker_helpers import with_readout
    target, network = sine_network
    changed = with_readout(network, 4, scale=scale)
    fast = checker.check(target, changed, timeout=5, falsify=False)
    monkeypatch.setattr(vectorised, "residual_bounds", lambda *a, **k: None)
    slow = checker.check(target, changed, timeout=5, falsify=False)
    statuses = [[(g.monotone, g.no_overshoot, g.verdict) for g in r.grades]
                for r in (fast, slow)]
    assert statuses[0] == statuses[1]
    expected = "proved" if scale == Fraction(3, 2) else "refuted"
    assert fast.grades[3].monotone == expected


def _same(report):
    data = report.to_json()
    for g in data["grades"]:
        g.pop("seconds", None)
    return data


def test_work_units_over_processes_give_the_same_report():
    target = load_target(example("peaks2d"))
    network = build(target, 4)
    vectorised.clear_cache()
    serial = checker.check(target, network, timeout=5)
    vectorised.clear_cache()
    with work_units.workers(2):
        # force the unit split even on this small grid
        data = vectorised.f_data(target, 64)
    vectorised.clear_cache()
    reference = vectorised.f_data(target, 64)
    for a, b in [(data.fm, reference.fm), (data.fb, reference.fb)] + list(zip(data.grad,
                                                                             reference.grad)):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    vectorised.clear_cache()
    parallel = checker.check(target, network, timeout=5, jobs=2)
    assert _same(parallel) == _same(serial)


def test_work_units_on_a_local_dask_cluster_give_the_same_report():
    distributed = pytest.importorskip("distributed")
    target = load_target(example("sine"))
    network = build(target, 6)
    vectorised.clear_cache()
    serial = checker.check(target, network, timeout=5)
    vectorised.clear_cache()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        remote = checker.check(target, network, timeout=5, scheduler=cluster.scheduler_address)
        work_units._CLIENTS.pop(cluster.scheduler_address).close()
    assert _same(remote) == _same(serial)


@pytest.mark.parametrize("dim,ratio", [(1, 2), (1, 3), (2, 2), (2, 3), (3, 2)])
def test_vectorised_refine_equals_the_nodewise_one(dim, ratio):
    from certify.engine.freudenthal import _refine_nodewise, refine
    rng = random.Random(dim * 10 + ratio)
    for n in (1, 2, 3):
        values = np.empty((n + 1,) * dim, dtype=object)
        for index in itertools.product(range(n + 1), repeat=dim):
            values[index] = Fraction(rng.randint(-100, 100), rng.randint(1, 9))
        fast, slow = refine(values, ratio), _refine_nodewise(values, ratio)
        assert fast.shape == slow.shape
        assert all(a == b and type(a) is Fraction for a, b in zip(fast.ravel(), slow.ravel()))


def test_fast_grade_layers_equal_the_reference_builders():
    from certify.engine.realize import Hat, _grade_layers, _grade_layers_reference
    rng = random.Random(7)
    for trial in range(40):
        dim = rng.randint(1, 4)
        n = rng.choice([2, 3, 4, 8])
        meshes = [Fraction(1, n), Fraction(1, 2 * n)]
        hats = [Hat(tuple(Fraction(rng.randint(0, n), n) for _ in range(dim)),
                    rng.choice(meshes) if trial % 3 == 0 else meshes[0],
                    Fraction(rng.randint(-50, 50), 7)) for _ in range(rng.randint(0, 10))]
        inputs = dim if trial % 2 else dim + 2
        fast, slow = _grade_layers(dim, hats, inputs), _grade_layers_reference(dim, hats, inputs)
        assert fast == slow
        assert all(type(w) is Fraction for layer in fast for row in layer.weight for w in row)


def test_certified_integrals_as_work_units_give_the_same_norms():
    target = load_target(example("sine"))
    network = build(target, 8)                   # last grid 128: slabs go to workers
    serial = checker.check(target, network, timeout=5)
    parallel = checker.check(target, network, timeout=5, jobs=2)
    assert [g.verdict for g in serial.grades] == [g.verdict for g in parallel.grades]
    for a, b in zip(serial.grades, parallel.grades):
        for x, y in zip(a.lp, b.lp):
            assert x.status == y.status
            for u, v in ((x.norm_lower, y.norm_lower), (x.norm_upper, y.norm_upper)):
                assert abs(u - v) <= abs(u) * Fraction(1, 10 ** 20)
