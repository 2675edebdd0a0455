"""Networks wrong on purpose, and an independent re-check of counterexamples.

The re-check below does not use `certify.engine.residual`: it evaluates the network exactly and
`f` in an Arb ball itself, and asks the ball comparison (true only when certain).
"""

from __future__ import annotations

import os
from fractions import Fraction

from flint import arb, fmpq

from certify.engine.network import Grade, Network
from certify.engine.numbers import EXACT
from certify.engine.realize import Layer, block_depth

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(HERE), "examples")


def example(name: str) -> str:
    return os.path.join(EXAMPLES, f"{name}.py")


def ball(q: Fraction) -> arb:
    return arb(fmpq(q.numerator, q.denominator))


def residual_ball(target, network, k: int, x) -> tuple[arb, Fraction]:
    """(`e_{k-1}(x)` as a ball, `g_k(x)` exactly) at the rational point `x`."""
    x = [Fraction(v) for v in x]
    outs = network.grade_outputs(EXACT, x, upto=k)
    f = target.ball(x)
    return f - ball(sum(outs[:-1], Fraction(0))), outs[-1]


def certainly_violated(target, network, k: int, x, claim: str) -> bool:
    """Independent check that `claim` fails at `x` (monotone: factor 2, no-overshoot: 1)."""
    r, g = residual_ball(target, network, k, x)
    factor = 2 if claim == "monotone" else 1
    if g > 0:
        return bool(factor * r < ball(g))
    if g < 0:
        return bool(factor * r > ball(g))
    return False


def with_layer(network: Network, k: int, index: int, layer: Layer) -> Network:
    grades = list(network.grades)
    grade = grades[k - 1]
    layers = list(grade.layers)
    layers[index] = layer
    grades[k - 1] = Grade(layers, grade.readout_weight, grade.readout_bias)
    return Network(network.dim, grades, dict(network.meta))


def with_readout(network: Network, k: int, scale=1, shift=0) -> Network:
    grades = list(network.grades)
    grade = grades[k - 1]
    grades[k - 1] = Grade(grade.layers, tuple(Fraction(scale) * w for w in grade.readout_weight),
                          grade.readout_bias * Fraction(scale) + Fraction(shift))
    return Network(network.dim, grades, dict(network.meta))


def hat_of(network: Network, k: int, j: int):
    """(node z, P weight, Q weight, index of the accumulator layer) of hat `j` of grade `k`."""
    d = network.dim
    depth = block_depth(d)
    first = network.grades[k - 1].layers[j * depth]
    h = 1 / first.weight[d + 2][0]
    z = tuple(-first.bias[d + 2 + i] * h for i in range(d))
    index = j * depth + depth
    after = network.grades[k - 1].layers[index]
    return z, after.weight[d][d + 2], after.weight[d + 1][d + 2], index


def set_coefficient(network: Network, k: int, j: int, c: Fraction) -> Network:
    """Hat `j` of grade `k` gets coefficient `c` (sign decides the P or Q channel)."""
    d = network.dim
    _, _, _, index = hat_of(network, k, j)
    layer = network.grades[k - 1].layers[index]
    w = [list(row) for row in layer.weight]
    w[d][d + 2] = c if c > 0 else Fraction(0)
    w[d + 1][d + 2] = -c if c < 0 else Fraction(0)
    return with_layer(network, k, index, Layer(tuple(map(tuple, w)), layer.bias))


def residual_at_hat(target, network, k: int, j: int) -> Fraction:
    """`e_{k-1}` at the node of hat `j` of grade `k` (ball midpoint; fine for scaling)."""
    z, _, _, _ = hat_of(network, k, j)
    r, _ = residual_ball(target, network, k, z)
    return _mid(r)


def _mid(value: arb) -> Fraction:
    m, e = value.mid().man_exp()
    m, e = int(m), int(e)
    return Fraction(m * 2 ** e) if e >= 0 else Fraction(m, 2 ** -e)


def largest_ratio(target, network, k: int, points) -> tuple[Fraction, tuple]:
    """`max g_k/e_{k-1}` over exact points where both are nonzero, and the point."""
    best, where = Fraction(0), None
    for x in points:
        r, g = residual_ball(target, network, k, x)
        if g == 0 or r.contains(0):
            continue
        ratio = g / _mid(r)
        if ratio > best:
            best, where = ratio, tuple(x)
    return best, where
