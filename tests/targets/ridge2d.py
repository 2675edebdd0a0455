"""A kink along the anti-diagonal plus a product (d=2, general class); sup |∇f|_1 <= 3."""
from sympy import Abs
LIPSCHITZ = 3
def f(x1, x2):
    return Abs(x1 + x2 - 1) / 2 + x1 * x2
