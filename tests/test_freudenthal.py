"""Courant hats of certify.engine.freudenthal and their ReLU realisation in certify.engine.realize.

Everything is exact (Fractions): partition of unity and the nodal property of `hat` on the
grids of mesh 1/n (docs/theory.md §2), the stand-alone ReLU hat block evaluated layer by layer
against the Courant formula on all of R^d, and the fixed width 3d+2 of construction grades.
"""

from __future__ import annotations

import itertools
import random
from fractions import Fraction as F

import pytest
from hypothesis import example, given, settings, strategies as st

from certify.engine.freudenthal import hat, nodes
from certify.engine.realize import Hat, Layer, block_depth, grade_layers, hat_block, max_width, readout

SETTINGS = settings(max_examples=60, deadline=None)


def grid(dim: int, n: int) -> list[tuple[F, ...]]:
    """The nodes `k/n`, `k ∈ [0, n]^d`, as rational points (lexicographic order)."""
    return [tuple(F(k, n) for k in index) for index in nodes(dim, n)]


def run_layers(layers: list[Layer], x) -> list[F]:
    """Exact evaluation: every layer maps h -> max(W h + b, 0) (docs/cli.md)."""
    values = [F(v) for v in x]
    for layer in layers:
        assert layer.inputs == len(values), "layer shapes do not chain"
        values = [max(sum((w * v for w, v in zip(row, values)), F(0)) + b, F(0))
                  for row, b in zip(layer.weight, layer.bias)]
    return values


def random_point(rng: random.Random, dim: int, lo: F = F(0), hi: F = F(1)) -> tuple[F, ...]:
    q = rng.randrange(1, 500)
    return tuple(lo + (hi - lo) * F(rng.randrange(0, q + 1), q) for _ in range(dim))


# --------------------------------------------------------------------------- hat: cube

unit = st.fractions(min_value=0, max_value=1, max_denominator=48)
cube_points = st.integers(1, 3).flatmap(
    lambda d: st.lists(unit, min_size=d, max_size=d).map(tuple))


def check_partition(n: int, x: tuple[F, ...]) -> None:
    """Σ_z φ_z(x) = 1 exactly, each φ_z in [0, 1] and supported in z + [-h, h]^d; and, the
    P1 basis being nodal, Σ_z z φ_z(x) = x (linear functions are reproduced)."""
    h = F(1, n)
    total, first_moment = F(0), [F(0)] * len(x)
    for z in grid(len(x), n):
        phi = hat(z, h, x)
        assert isinstance(phi, F)
        assert 0 <= phi <= 1
        if phi > 0:
            assert max(abs(a - b) for a, b in zip(x, z)) < h, (z, x)
        total += phi
        first_moment = [m + zi * phi for m, zi in zip(first_moment, z)]
    assert total == 1, (n, x, total)
    assert first_moment == list(x), (n, x)


@SETTINGS
@given(n=st.sampled_from([1, 2, 3, 4]), x=cube_points)
@example(n=1, x=(F(0),))                                 # corners of the cube
@example(n=3, x=(F(1),))
@example(n=2, x=(F(1), F(1)))
@example(n=2, x=(F(0), F(1), F(1)))
@example(n=4, x=(F(1, 4), F(3, 4), F(1, 2)))             # grid nodes
@example(n=3, x=(F(2, 3), F(1, 3)))
@example(n=2, x=(F(1, 2), F(1, 3)))                      # on the cell face x1 = h
@example(n=3, x=(F(1, 5), F(2, 3), F(0)))                # faces x2 = 2h and x3 = 0
@example(n=2, x=(F(1, 5), F(1, 5)))                      # on the diagonal face x1 = x2
@example(n=4, x=(F(3, 8), F(1, 8)))                      # on x1 - x2 = h
@example(n=3, x=(F(1, 7), F(1, 7), F(1, 7)))             # on every diagonal face at once
@example(n=2, x=(F(1, 2), F(1, 4), F(3, 4)))             # x1 = h and x3 - x2 = h
def test_partition_of_unity(n, x):
    check_partition(n, x)


@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("n", [2, 3])
def test_partition_of_unity_seeded(dim, n):
    rng = random.Random(1000 * dim + n)
    for _ in range(25):
        check_partition(n, random_point(rng, dim))


@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_nodal_exhaustive(dim, n):
    """φ_z(z') = [z = z'] for every pair of nodes of a small grid."""
    h = F(1, n)
    points = grid(dim, n)
    for z in points:
        for other in points:
            assert hat(z, h, other) == (1 if z == other else 0), (z, other)


@SETTINGS
@given(dim=st.integers(1, 3), n=st.integers(1, 8), data=st.data())
def test_nodal_random(dim, n, data):
    index = st.lists(st.integers(0, n), min_size=dim, max_size=dim)
    k, m = data.draw(index), data.draw(index)
    h = F(1, n)
    z, other = tuple(F(i, n) for i in k), tuple(F(i, n) for i in m)
    assert hat(z, h, other) == (1 if k == m else 0)
    assert hat(z, h, z) == 1


# --------------------------------------------------------------------------- ReLU hat block

@st.composite
def block_cases(draw):
    """(z, h, x) with z anywhere, x in R^d: near the star (both signs of every y_i), on its
    boundary, or far away (outside [0,1]^d; hat_block reads x itself, not carriers)."""
    dim = draw(st.integers(1, 4))
    coord = st.fractions(min_value=-2, max_value=3, max_denominator=24)
    z = tuple(draw(coord) for _ in range(dim))
    h = draw(st.sampled_from([F(1), F(1, 2), F(1, 3), F(1, 8), F(2, 5), F(3)]))
    offset = st.fractions(min_value=F(-3, 2), max_value=F(3, 2), max_denominator=30)
    where = draw(st.sampled_from(["near", "far"]))
    if where == "near":
        x = tuple(zi + h * draw(offset) for zi in z)
    else:
        x = tuple(draw(st.fractions(min_value=-50, max_value=50, max_denominator=7))
                  for _ in range(dim))
    return z, h, x


def check_block(z, h, x) -> None:
    layers = hat_block(z, h)
    d = len(z)
    assert len(layers) == block_depth(d)
    assert layers[0].inputs == d and layers[-1].width == 1
    assert all(layer.width <= max_width(d) for layer in layers)
    assert run_layers(layers, x) == [hat(z, h, x)], (z, h, x)


@settings(max_examples=120, deadline=None)
@given(case=block_cases())
@example(case=((F(0),), F(1), (F(0),)))                       # the node: φ = 1
@example(case=((F(1, 2),), F(1, 2), (F(-3),)))                # far left of the cube
@example(case=((F(1), F(1)), F(1, 2), (F(3, 2), F(1, 2))))    # x outside, φ = 0
@example(case=((F(0), F(0)), F(1), (F(-1, 2), F(1, 4))))      # y of both signs
@example(case=((F(1, 3), F(2, 3), F(0)), F(1, 3), (F(1, 2), F(1, 2), F(-1, 12))))
@example(case=((F(0),) * 4, F(1, 2), (F(1, 8), F(-1, 8), F(1, 16), F(-1, 16))))
@example(case=((F(1),) * 4, F(1, 4), (F(9, 8), F(5, 4), F(1), F(17, 16))))
@example(case=((F(-1), F(2), F(1, 2), F(0)), F(3), (F(-7), F(4), F(2), F(-1))))
def test_hat_block_equals_courant_formula(case):
    check_block(*case)


@pytest.mark.parametrize("dim", [1, 2, 3, 4])
def test_hat_block_seeded(dim):
    rng = random.Random(dim)
    for _ in range(15):
        z = random_point(rng, dim, F(-1), F(2))
        h = F(1, rng.choice([1, 2, 3, 4, 8]))
        for _ in range(8):
            near = tuple(zi + h * (2 * F(rng.randrange(0, 97), 96) - 1) for zi in z)
            check_block(z, h, near)
        check_block(z, h, random_point(rng, dim, F(-5), F(6)))
        corners = itertools.product((F(0), F(1)), repeat=dim)
        for corner in itertools.islice(corners, 4):
            check_block(z, h, corner)


# --------------------------------------------------------------------------- grades

@pytest.mark.parametrize("dim", [1, 2, 3, 4])
@pytest.mark.parametrize("follows", [False, True])
def test_grade_layers_width_and_value(dim, follows):
    """A grade built from hats (zero, positive, negative coefficients) has width <= 3d+2,
    chains, keeps the carriers and P, Q, and its readout is Σ c φ_z exactly on the cube;
    as grade k > 1 it reads [x, P_prev, Q_prev] and must ignore the previous P, Q."""
    rng = random.Random(17 * dim + follows)
    n = rng.choice([2, 4])
    h = F(1, n)
    all_nodes = grid(dim, n)
    hats = [Hat(rng.choice(all_nodes), h, F(rng.randrange(-40, 41), rng.randrange(1, 9)))
            for _ in range(5)] + [Hat(all_nodes[0], h, F(0))]
    inputs = dim + 2 if follows else dim
    layers = grade_layers(dim, hats, inputs)
    nonzero = sum(1 for item in hats if item.c)
    assert len(layers) == nonzero * block_depth(dim) + 1
    assert layers[0].inputs == inputs
    assert all(layer.width <= max_width(dim) for layer in layers)
    assert max(layer.width for layer in layers) == (max_width(dim) if nonzero else dim + 2)
    assert layers[-1].width == dim + 2
    weight, bias = readout(dim)
    for _ in range(12):
        x = random_point(rng, dim)
        extra = [F(rng.randrange(0, 10), 3), F(rng.randrange(0, 10), 7)] if follows else []
        last = run_layers(layers, list(x) + extra)
        assert last[:dim] == list(x)                       # carriers pass x on
        assert last[dim] >= 0 and last[dim + 1] >= 0       # P, Q nonnegative channels
        out = sum((w * v for w, v in zip(weight, last)), F(0)) + bias
        assert out == sum((item.c * hat(item.z, item.h, x) for item in hats), F(0)), x


@pytest.mark.parametrize("dim", [1, 2, 3, 4])
def test_empty_grade_is_zero(dim):
    layers = grade_layers(dim, [], dim)
    assert len(layers) == 1 and layers[0].width == dim + 2 <= max_width(dim)
    x = [F(1, 3)] * dim
    assert run_layers(layers, x) == x + [F(0), F(0)]
