"""Runge's function, moved from [-1, 1] to [0, 1]: smooth, sharply peaked at x1 = 1/2."""
from sympy import Rational

# With s = 2*x1 - 1, f = 1/(1 + 25 s^2) and f'(x1) = -100 s / (1 + 25 s^2)^2. |f'| is largest
# where 75 s^2 = 1, so sup |f'| = 15*sqrt(3)/4 = 6.4951905...; 13/2 bounds it from above
# because (13/2)^2 = 169/4 = 676/16 > 675/16 = (15*sqrt(3)/4)^2.
LIPSCHITZ = Rational(13, 2)


def f(x1):
    return 1 / (1 + 25 * (2 * x1 - 1) ** 2)
