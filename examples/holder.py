"""A Hoelder-1/2 cusp at x1 = 1/3: continuous but not Lipschitz.

There is no LIPSCHITZ: near x1 = 1/3 the slope |f'| = 1/(2 sqrt|x1 - 1/3|) is unbounded, so
no finite constant exists. The construction still converges (uniform continuity suffices);
only the a priori rate bound is unavailable.
"""
from sympy import Abs, Rational


def f(x1):
    return Abs(x1 - Rational(1, 3)) ** Rational(1, 2)
