"""A kink at the non-dyadic point x1 = 2/5 plus a smooth part (d=1); |f'| <= 1 + 1 = 2."""
from sympy import Abs, Rational, cos
LIPSCHITZ = 2
def f(x1):
    return Abs(x1 - Rational(2, 5)) + cos(x1) / 2
