"""A smooth target on [0, 1]^3: a Gaussian bump at the origin plus a trilinear term."""
from sympy import Rational, exp

# The gradient's l1 norm peaks at about 1.353 (sampled); 3/2 is a rigorous upper bound,
# checked by interval bisection in tests/test_target.py.
LIPSCHITZ = Rational(3, 2)


def f(x1, x2, x3):
    return exp(-(x1 ** 2 + x2 ** 2 + x3 ** 2)) + x1 * x2 * x3 / 2
