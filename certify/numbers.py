"""Number models: one algorithm, three kinds of arithmetic.

Following mpmath's `mp`/`iv`/`fp` contexts, code that evaluates targets, networks and
residuals is written once against a *context* and runs

- `EXACT`: rationals (`fractions.Fraction`), for decisions and witnesses;
- `BALL`:  Arb midpoint-radius balls (python-flint), rigorous enclosures;
- `FLOAT`: numpy floats, for sampling and plots only; never for proofs.

The module also converts between these models without losing rigour: rationals to balls
(rounded outward by Arb), balls to exact rational end points, and user-facing strings.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Iterable

import numpy as np
from flint import arb, ctx as flint_ctx, fmpq

from .errors import NotExact

Rational = Fraction

#: working precision of Arb balls, in bits; enclosures stay rigorous at any precision.
BALL_PRECISION = 96
flint_ctx.prec = BALL_PRECISION


# --------------------------------------------------------------------------- parsing

#: guards against strings such as "1e999999999" that would make Fraction compute 10**10^9
MAX_DIGITS, MAX_EXPONENT = 10_000, 4_000


def _exponent_too_large(text: str) -> bool:
    lowered = text.lower()
    if "e" not in lowered:
        return False
    try:
        return abs(int(lowered.rsplit("e", 1)[1])) > MAX_EXPONENT
    except ValueError:
        return False          # Fraction will refuse it with the usual message


def parse_rational(value: Any, where: str = "number") -> Fraction:
    """Read an exact rational from a string ("3", "-7/16", "0.125", "1e-3") or a JSON number.

    A float denotes the exact binary value it stores. NaN, infinities, booleans and
    anything else are refused with `where` named in the message.
    """
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not a finite number")
        return Fraction(value)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity",
                            "+infinity", "-infinity"}:
            raise ValueError(f"{where}: {value!r} is not a finite number")
        if len(text) > MAX_DIGITS or _exponent_too_large(text):
            raise ValueError(f"{where}: {value[:40]!r}... is too long or its exponent too large "
                             f"(at most {MAX_DIGITS} characters and exponents of "
                             f"{MAX_EXPONENT})")
        try:
            return Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{where}: {value!r} is not a rational number "
                             "(write it as \"p/q\", an integer or a decimal)") from None
    raise ValueError(f"{where}: expected a number or a string, got {type(value).__name__}")


def format_rational(q: Fraction) -> str:
    """Exact string form: "p" or "p/q"."""
    q = Fraction(q)
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def decimal_bound(q: Fraction, direction: str, digits: int = 6) -> str:
    """A short decimal string that is itself a bound: >= q for "up", <= q for "down"."""
    q = Fraction(q)
    if q == 0:
        return "0"
    scale = 10 ** max(0, digits - 1 - math.floor(math.log10(abs(float(q))) if q else 0))
    scaled = q * scale
    n = math.ceil(scaled) if direction == "up" else math.floor(scaled)
    result = Fraction(n, scale)
    text = _plain_decimal(result)
    assert (Fraction(text) >= q) if direction == "up" else (Fraction(text) <= q)
    return text


def _plain_decimal(q: Fraction) -> str:
    """Exact decimal expansion of a rational whose denominator divides a power of ten."""
    sign = "-" if q < 0 else ""
    q = abs(q)
    num, den = q.numerator, q.denominator
    places = 0
    while (10 ** places) % den:
        places += 1
    scaled = num * (10 ** places // den)
    whole, frac = divmod(scaled, 10 ** places)
    if places == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(places, '0').rstrip('0') or '0'}"


# --------------------------------------------------------------------------- balls

def to_ball(q: Fraction | int) -> arb:
    """An Arb ball containing the rational `q` (exact when `q` is dyadic and short)."""
    q = Fraction(q)
    return arb(fmpq(q.numerator, q.denominator))


def radius_ball(r: Fraction) -> arb:
    """The ball `[-r, r]` (radius rounded up)."""
    r = Fraction(r)
    return arb(0, fmpq(r.numerator, r.denominator))


def box_ball(lo: Fraction, hi: Fraction) -> arb:
    """An Arb ball containing the whole interval `[lo, hi]`."""
    lo, hi = Fraction(lo), Fraction(hi)
    return to_ball(lo).union(to_ball(hi))


def _exact_arb(value: arb) -> Fraction:
    mantissa, exponent = value.man_exp()
    mantissa, exponent = int(mantissa), int(exponent)
    return Fraction(mantissa * 2 ** exponent) if exponent >= 0 else Fraction(mantissa, 2 ** -exponent)


def ball_bounds(value: arb) -> tuple[Fraction, Fraction]:
    """Exact rational end points `(lo, hi)` with `lo <= every point of the ball <= hi`.

    Raises `ArithmeticError` when the ball is not finite (an enclosure blew up).
    """
    if not value.is_finite():
        raise ArithmeticError(f"the enclosure {value} is not finite")
    mid = _exact_arb(value.mid())
    rad = _exact_arb(value.rad())
    return mid - rad, mid + rad


# --------------------------------------------------------------------------- contexts

class Context:
    """The operations residual and enclosure code may use, in one number model."""

    name = "abstract"

    def convert(self, q: Fraction) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def relu(self, a: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def dot(self, weights: Iterable[Any], values: Iterable[Any], bias: Any) -> Any:
        total = bias
        for w, v in zip(weights, values):
            total = total + w * v
        return total

    # elementary functions: contexts that cannot do one exactly raise NotExact
    def _missing(self, name: str):
        raise NotExact(f"{name} has no exact rational value in the {self.name} context")

    def sin(self, a): self._missing("sin")
    def cos(self, a): self._missing("cos")
    def tan(self, a): self._missing("tan")
    def exp(self, a): self._missing("exp")
    def log(self, a): self._missing("log")
    def atan(self, a): self._missing("atan")
    def sinh(self, a): self._missing("sinh")
    def cosh(self, a): self._missing("cosh")
    def tanh(self, a): self._missing("tanh")
    def pi(self): self._missing("pi")
    def E(self): self._missing("E")

    def abs(self, a): return abs(a)
    def max(self, a, b): return a if a >= b else b
    def min(self, a, b): return a if a <= b else b

    def pow(self, a, exponent: Fraction):
        exponent = Fraction(exponent)
        if exponent.denominator == 1:
            return a ** int(exponent)
        self._missing(f"a power with exponent {exponent}")


class ExactContext(Context):
    """Rational arithmetic with `Fraction`: every result is exact."""

    name = "exact"

    def convert(self, q):
        return Fraction(q)

    def relu(self, a):
        return a if a > 0 else Fraction(0)

    def pow(self, a, exponent):
        exponent = Fraction(exponent)
        if exponent.denominator == 1:
            if exponent < 0 and a == 0:
                raise ZeroDivisionError("0 to a negative power")
            return Fraction(a) ** int(exponent)
        root = _exact_root(Fraction(a), exponent.denominator)
        if root is None:
            self._missing(f"{a}**({exponent})")
        return root ** exponent.numerator


def _exact_root(a: Fraction, n: int) -> Fraction | None:
    if a < 0:
        return None
    num, den = _int_root(a.numerator, n), _int_root(a.denominator, n)
    if num is None or den is None:
        return None
    return Fraction(num, den)


def _int_root(m: int, n: int) -> int | None:
    r = round(m ** (1.0 / n)) if m < 2 ** 1000 else None
    if r is None:
        return None
    for c in (r - 1, r, r + 1):
        if c >= 0 and c ** n == m:
            return c
    return None


class BallContext(Context):
    """Arb balls: every operation returns a ball that contains the true value."""

    name = "ball"

    def convert(self, q):
        return q if isinstance(q, arb) else to_ball(q)

    def relu(self, a):
        if not isinstance(a, arb):
            a = self.convert(a)
        if a > 0:
            return a
        if a < 0:
            return arb(0)
        return a.max(arb(0))

    def sin(self, a): return self.convert(a).sin()
    def cos(self, a): return self.convert(a).cos()
    def tan(self, a): return self.convert(a).tan()
    def exp(self, a): return self.convert(a).exp()
    def log(self, a): return self.convert(a).log()
    def atan(self, a): return self.convert(a).atan()
    def sinh(self, a): return self.convert(a).sinh()
    def cosh(self, a): return self.convert(a).cosh()
    def tanh(self, a): return self.convert(a).tanh()
    def pi(self): return arb.pi()
    def E(self): return arb.const_e()
    def abs(self, a): return abs(self.convert(a))
    def max(self, a, b): return self.convert(a).max(self.convert(b))
    def min(self, a, b): return self.convert(a).min(self.convert(b))

    def pow(self, a, exponent):
        exponent = Fraction(exponent)
        a = self.convert(a)
        if exponent.denominator == 1:
            return a ** int(exponent)
        if exponent.numerator < 0:
            return 1 / self.pow(a, -exponent)
        # a^(p/q) = (a^(1/q))^p; root of a ball that touches 0 stays finite
        root = a.sqrt() if exponent.denominator == 2 else a.root(exponent.denominator)
        return root ** exponent.numerator


class FloatContext(Context):
    """numpy float64, vectorised over arrays of points. Never used to conclude *proved*."""

    name = "float"

    def convert(self, q):
        return float(q)

    def relu(self, a): return np.maximum(a, 0.0)
    def sin(self, a): return np.sin(a)
    def cos(self, a): return np.cos(a)
    def tan(self, a): return np.tan(a)
    def exp(self, a): return np.exp(a)
    def log(self, a): return np.log(a)
    def atan(self, a): return np.arctan(a)
    def sinh(self, a): return np.sinh(a)
    def cosh(self, a): return np.cosh(a)
    def tanh(self, a): return np.tanh(a)
    def pi(self): return math.pi
    def E(self): return math.e
    def abs(self, a): return np.abs(a)
    def max(self, a, b): return np.maximum(a, b)
    def min(self, a, b): return np.minimum(a, b)

    def pow(self, a, exponent):
        return np.power(a, float(exponent))


EXACT = ExactContext()
BALL = BallContext()
FLOAT = FloatContext()
