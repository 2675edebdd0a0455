"""A piecewise-linear target on [0, 1]^2 with rational data: decided exactly (no enclosures)."""
from sympy import Abs, Max, Min, Rational

# On each linear piece grad f = (H + s/3 - I/4, -H/2 + s/3) with H, I in {0, 1}, s = +-1
# (H: x1 > x2/2, I: x1 < 1/2, s: sign of x1 + x2 - 3/4). The largest l1 norm over all eight
# patterns is 3/2 (H = 1, I = 0, either s), attained e.g. near (0.9, 0.1): exact.
LIPSCHITZ = Rational(3, 2)


def f(x1, x2):
    return Max(0, x1 - x2 / 2) + Abs(x1 + x2 - Rational(3, 4)) / 3 - Min(x1, Rational(1, 2)) / 4
