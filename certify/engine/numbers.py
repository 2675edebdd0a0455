"""Number models: one algorithm, several kinds of arithmetic.

Following mpmath's `mp`/`iv`/`fp` contexts, code that evaluates targets, networks and
residuals is written once against a *context* and runs

- `EXACT`: rationals (`fractions.Fraction`), for decisions and witnesses;
- `FMPQ`:  the same rationals as python-flint `fmpq`, some ten times faster, for networks
  evaluated at exact points (no elementary functions);
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
from flint import arb, ctx as flint_ctx, fmpq, fmpz

from ..errors import NotExact

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


def _int_text(n: int) -> str:
    """Decimal text of any integer (Python's str refuses more than 4300 digits)."""
    return str(n) if abs(n).bit_length() < 10_000 else str(fmpz(n))


def format_rational(q: Fraction) -> str:
    """Exact string form: "p" or "p/q"."""
    if not isinstance(q, Fraction):          # a Fraction is used as is (no copy: hot path)
        q = Fraction(q)
    p, d = q.numerator, q.denominator
    if p.bit_length() < 10_000 and d.bit_length() < 10_000:     # the usual case: str itself
        return str(p) if d == 1 else f"{p}/{d}"
    return _int_text(p) if d == 1 else f"{_int_text(p)}/{_int_text(d)}"


def _decade(q: Fraction) -> int:
    """The integer e with 10^e <= q < 10^(e+1), for q > 0 (exact, any size)."""
    n, d = q.numerator, q.denominator
    e = math.floor((n.bit_length() - d.bit_length()) * math.log10(2))

    def below(e):          # q < 10^e ?
        return n < d * 10 ** e if e >= 0 else n * 10 ** -e < d
    while below(e):
        e -= 1
    while not below(e + 1):
        e += 1
    return e


#: decades outside [SCIENTIFIC_BELOW, SCIENTIFIC_FROM) are written as m.mmmmmme+XX
SCIENTIFIC_BELOW, SCIENTIFIC_FROM = -4, 12


def decimal_bound(q: Fraction, direction: str, digits: int = 6) -> str:
    """A short decimal string that is itself a bound: >= q for "up", <= q for "down".

    Past a width (|q| >= 10^12 or < 10^-4) it is written in scientific notation, the
    mantissa rounded in the same direction, so any magnitude renders in a few characters.
    """
    q = Fraction(q)
    if q == 0:
        return "0"
    e = _decade(abs(q))
    shift = digits - 1 - e
    scaled = q * 10 ** shift if shift >= 0 else q / 10 ** -shift
    n = math.ceil(scaled) if direction == "up" else math.floor(scaled)
    if SCIENTIFIC_BELOW <= e < SCIENTIFIC_FROM:
        result = Fraction(n, 10 ** shift) if shift >= 0 else Fraction(n * 10 ** -shift)
        text = _plain_decimal(result)
    else:
        sign, whole = ("-" if n < 0 else ""), str(abs(n))
        exponent = len(whole) - 1 - shift            # value = n * 10^-shift
        mant = whole.rstrip("0") or "0"
        text = f"{sign}{mant[0]}{'.' + mant[1:] if len(mant) > 1 else ''}e{exponent:+d}"
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


# --------------------------------------------------------------------------- fmpq

def to_fmpq(value) -> fmpq:
    """An exact `fmpq` from a Fraction, int or fmpq."""
    if isinstance(value, fmpq):
        return value
    if type(value) is not Fraction:
        value = Fraction(value)
    return fmpq(value.numerator, value.denominator)


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


#: binary exponents beyond this are not converted to rationals (2^(10^9) would never finish)
MAX_BINARY_EXPONENT = 100_000


def _exact_arb(value: arb, upper: bool = False) -> Fraction:
    """The exact rational value of an exact Arb number; `upper`: a (nonnegative) radius,
    which may be rounded up to 2^-MAX_BINARY_EXPONENT when it is smaller."""
    mantissa, exponent = value.man_exp()
    mantissa, exponent = int(mantissa), int(exponent)
    if mantissa.bit_length() + exponent > MAX_BINARY_EXPONENT:
        raise ArithmeticError("the enclosure is too large (beyond 2^100000)")
    if exponent < -MAX_BINARY_EXPONENT:
        if upper:
            return Fraction(1, 2 ** MAX_BINARY_EXPONENT) if mantissa else Fraction(0)
        if mantissa.bit_length() + exponent < -MAX_BINARY_EXPONENT:
            raise ArithmeticError("the enclosure is too small to convert (below 2^-100000)")
    return Fraction(mantissa * 2 ** exponent) if exponent >= 0 else Fraction(mantissa, 2 ** -exponent)


def ball_bounds(value: arb) -> tuple[Fraction, Fraction]:
    """Exact rational end points `(lo, hi)` with `lo <= every point of the ball <= hi`.

    Raises `ArithmeticError` when the ball is not finite (an enclosure blew up).
    """
    if not value.is_finite():
        raise ArithmeticError(f"the enclosure {value} is not finite")
    mid = _exact_arb(value.mid())
    rad = _exact_arb(value.rad(), upper=True)
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

    def sin_cos(self, a):
        """`(sin a, cos a)`; a context that computes both in one pass overrides this."""
        return self.sin(a), self.cos(a)

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


class FmpqContext(Context):
    """Exact rationals as python-flint `fmpq`: `EXACT`'s arithmetic, faster."""

    name = "fmpq"

    def convert(self, q):
        return to_fmpq(q)

    def relu(self, a):
        return a if a > 0 else _FMPQ_ZERO


_FMPQ_ZERO = fmpq(0)


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

    def sin_cos(self, a):
        a = self.convert(a)                 # once: the same balls as `sin`, `cos`
        return a.sin(), a.cos()

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
        try:
            return float(q)
        except OverflowError:           # a constant past the float range (exp(1e3) as a rational)
            return math.inf if q > 0 else -math.inf

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
FMPQ = FmpqContext()
BALL = BallContext()
FLOAT = FloatContext()
