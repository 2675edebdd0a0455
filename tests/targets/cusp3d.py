"""A Hoelder-1/2 cusp at the point (1/3, 1/3, 1/3) (d=3): continuous, not Lipschitz."""
from sympy import Abs, Rational


def f(x1, x2, x3):
    third = Rational(1, 3)
    return (Abs(x1 - third) + Abs(x2 - third) + Abs(x3 - third)) ** Rational(1, 2) / 2
