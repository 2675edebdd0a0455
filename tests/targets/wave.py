"""An oscillating target (d=1): three periods of a sine under a linear envelope.

|f'| <= pi*6*(1 + x) /2 + 1/2 <= 6*pi + 1/2 <= 19.35 on [0, 1].
"""
from sympy import pi, sin
LIPSCHITZ = "1935/100"
def f(x1):
    return (1 + x1) * sin(6 * pi * x1) / 2
