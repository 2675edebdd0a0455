"""`local.GridGrade.nodal` equals the nodal values summed hat by hat in `Fraction`s, on
its whole-array path (one hat per node, int64 sums) and its object path (repeated nodes,
numbers past int64), with and without the readout's scales and an affine part."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction as F

from certify.certificates.local import GridGrade
from certify.engine.realize import Hat


def _reference(grade: GridGrade, dim: int, n: int) -> dict:
    values = {}
    for index in itertools.product(range(n + 1), repeat=dim):
        values[index] = grade.bias + sum((a * F(i, n) for a, i in zip(grade.carrier, index)),
                                         F(0))
    for hat in grade.hats:
        index = tuple(int(v * n) for v in hat.z)
        values[index] += (grade.alpha if hat.c > 0 else grade.beta) * hat.c
    return values


def test_nodal_equals_the_fraction_sums():
    rng = random.Random(4)
    for _ in range(120):
        dim = rng.choice([1, 2, 3])
        n = rng.choice([2, 4]) if dim == 3 else rng.choice([2, 4, 8])
        nodes = [tuple(rng.randint(0, n) for _ in range(dim))
                 for _ in range(rng.randint(1, (n + 1) ** dim))]
        if rng.random() < 0.6:
            nodes = list(dict.fromkeys(nodes))
        big = rng.choice([2 ** 40, 2 ** 70])
        hats = tuple(Hat(tuple(F(i, n) for i in z), F(1, n),
                         F(rng.randint(-big, big), rng.choice([2 ** 48, 3 * 2 ** 48])))
                     for z in nodes)
        carrier = tuple([F(0)] * dim) if rng.random() < 0.8 else \
            tuple(F(rng.randint(-3, 3), 5) for _ in range(dim))
        grade = GridGrade(hats, n, carrier, rng.choice([F(1), F(3, 2)]),
                          rng.choice([F(1), F(-1, 3)]), rng.choice([F(0), F(5, 7)]))
        nodal = grade.nodal(dim, n)
        want = _reference(grade, dim, n)
        assert all(nodal[index] == value for index, value in want.items())
