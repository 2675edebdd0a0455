"""A smooth transcendental target on [0, 1]^2 with a ridge along the diagonal."""
from sympy import cos, exp, pi, sin


# With t = x1 - x2: |df/dx1| + |df/dx2| <= pi (|cos cos| + |sin sin|) + 2 |t| exp(-t^2)
# <= pi + 2/sqrt(2e) = 3.99935... <= 4 (Cauchy-Schwarz, and |t| e^{-t^2} <= 1/sqrt(2e)).
# The true sup is about 3.886.
LIPSCHITZ = 4


def f(x1, x2):
    return sin(pi * x1) * cos(pi * x2) + exp(-(x1 - x2) ** 2) / 2
