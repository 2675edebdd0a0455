"""One period of a sine wave on [0, 1]: smooth, transcendental (kind "general")."""
from sympy import pi, sin

# |f'(x)| = 2*pi*|cos(2*pi*x)| <= 2*pi = 6.2831853...; a max-norm Lipschitz constant must be
# an UPPER bound, so 2*pi is rounded up (not to nearest) to a rational.
LIPSCHITZ = "629/100"


def f(x1):
    return sin(2 * pi * x1)
