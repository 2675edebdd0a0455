"""A smooth bump off-centre (d=1); |f'| <= 40 |x-0.3| e^{-20(x-0.3)^2} <= 3.84."""
from sympy import exp
LIPSCHITZ = 4
def f(x1):
    return exp(-20 * (x1 - 3 / 10) ** 2)
