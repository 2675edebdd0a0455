"""A Hoelder-1/2 cusp at the point (1/3, 1/3) (d=2): continuous, not Lipschitz (no LIPSCHITZ)."""
from sympy import Abs, Rational


def f(x1, x2):
    return (Abs(x1 - Rational(1, 3)) + Abs(x2 - Rational(1, 3))) ** Rational(1, 2)
