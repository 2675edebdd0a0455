"""A kink along the plane x1 + x2 + x3 = 1 plus a product (d=3); sup |∇f|_1 <= 1/2 + 3/2."""
from sympy import Abs

LIPSCHITZ = 2


def f(x1, x2, x3):
    return Abs(x1 + x2 + x3 - 1) / 6 + x1 * x2 * x3 / 2
