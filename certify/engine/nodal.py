"""Exact nodal values as integer numerators over one common denominator.

The construction keeps `F = Σ g_k` as its exact nodal values on the current grid. Every
coefficient is a multiple of `2^-48` and a hat of mesh `N^-j` takes values in multiples of
`N^-(ℓ-j)` on the grid of level `ℓ`, so all nodal values share one small denominator (a
power of two for `N = 2`). Holding them as one integer array of numerators over that
denominator, instead of one `Fraction` per node, makes refinement, coefficient updates and
the float enclosures of the nodal values whole-array integer operations.

API (`Nodal`, numpy-like where it can be):

- `Nodal(num, den)`: the values `num / den`; `num` a numpy int64 array or an object array
  of Python ints, `den` a positive int (any: networks read from files are arbitrary
  rationals; the dyadic case, `den = 2^e`, is the fast one). int64 is used while every
  `|num| <= LIMIT = 2^62` (each operation checks an a-priori bound of its result first and
  switches to Python ints where it could overflow; `pack` switches back when they fit).
- `Nodal.zeros(shape)`, `Nodal.of(values)` (from an array of exact rationals: the least
  common denominator; a `Nodal` is returned as is).
- `.shape .ndim .size`, `.copy() .ravel() .reshape()`, `x[key]`: a `Fraction` where `key`
  picks one element, else a `Nodal` (basic slices are views, as in numpy).
- `.fractions()`: an object array of `Fraction`s (for the places that still need them).
- `.floats()`: `(x, exact)`, flat: `x` the floats nearest to the values (what
  `float(Fraction)` gives), `exact` where `x` equals the value. For `den = 2^e` (e <= 1022)
  this is `num · 2.0^-e` (scaling by a power of two is exact in the normal range) with the
  exactness read off the integers; otherwise a correctly rounded `int / int` per element.
- `.interval()`: float arrays `(lo, hi)` of the same shape around the exact values: the
  float itself where exact, else its two neighbours (`vectorised.nodal_interval`).
- `a + b` (exact, over the lcm of the denominators), `.halved()`, `.signs()` (exact
  int8 signs).
- `.refine(ratio)`: the nodal values of the same piecewise-linear function on the grid
  `ratio` times finer (`freudenthal.refine`; exact: numerators are summed with integer
  weights and the denominator multiplied by `ratio`).
- `.over(den)`: the same values over a multiple `den` of the denominator; `.for_units(bits)`:
  over the least multiple that `2^-bits` divides.
- `.with_units(index, units, bits)`: a copy with `units · 2^-bits` added at `index` (a tuple
  of index arrays, as `np.nonzero` gives); `.put_units(index, base, units, bits)`: in place,
  `self[index] = base[index] + units · 2^-bits` (`base` of the same shape).

Everything is exact; only `floats` / `interval` round, and they say where.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .intervals import step_down, step_up

#: int64 numerators are kept at most this in absolute value (headroom for one addition)
LIMIT = 2 ** 62
#: elementwise `int` over an array (floats to exact Python ints), in one C loop
_INT = np.frompyfunc(int, 1, 1)


def _max_abs(num: np.ndarray) -> int:
    """`max |num|` as a Python int (0 for an empty array)."""
    if not num.size:
        return 0
    if num.dtype == object:
        return max(map(abs, num.ravel().tolist()))
    return int(np.abs(num).max())


def _as_object(num: np.ndarray) -> np.ndarray:
    """Python-int numerators (int64 ones converted: `astype(object)` gives Python ints)."""
    return num if num.dtype == object else num.astype(object)


#: `_equal_floats` compares residues modulo 2^16 below 2^68 (rounding error <= 2^14 there)
_LOW = 1 << 16
_LOW_BELOW = 2.0 ** 68


def _equal_floats(num: np.ndarray, scaled: np.ndarray) -> np.ndarray:
    """Where the Python ints `num` (an object array) equal `scaled`, their correctly rounded
    floats (`num == int(x)` elementwise, some 2x cheaper). Each `x` is an integer (floats
    from 2^53 up are; below, `x = num`). Where every `|x| < 2^68`, `|num| < 2^68` and
    `|num - x| <= ulp/2 <= 2^14`, so `num == x` iff `num ≡ x (mod 2^16)`: `num & 0xFFFF`
    is `num mod 2^16` (Python ints), and `x - 2^16·floor(x·2^-16)` is `x mod 2^16`
    exactly (scaling by a power of two and floor are exact, and the difference, an integer
    below 2^16, is a float, so the subtraction returns it). Elsewhere `num == int(x)`."""
    if not num.size or not np.abs(scaled).max() < _LOW_BELOW:
        return (num == _INT(scaled)).astype(bool)
    low = (num & (_LOW - 1)).astype(np.int64)
    residue = scaled - np.floor(scaled * (1.0 / _LOW)) * _LOW
    return low == residue.astype(np.int64)


def _units_array(units) -> np.ndarray:
    """Integers as an int64 array where all fit, else an object array of Python ints."""
    if isinstance(units, np.ndarray) and units.dtype != object:
        return units.astype(np.int64, copy=False)
    values = [int(u) for u in np.asarray(units, dtype=object).ravel().tolist()]
    if values and max(map(abs, values)) > LIMIT:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return np.array(values, dtype=np.int64)


class Nodal:
    """Exact values `num / den` on a grid (see the module docstring)."""

    __slots__ = ("num", "den")

    def __init__(self, num: np.ndarray, den: int = 1):
        den = int(den)
        if den <= 0:
            raise ValueError(f"den={den} must be a positive integer")
        num = np.asarray(num)
        if num.dtype != object and num.dtype != np.int64:
            if not np.issubdtype(num.dtype, np.integer):
                raise TypeError(f"numerators of dtype={num.dtype} are not integers")
            num = num.astype(np.int64)
        if num.dtype == np.int64 and _max_abs(num) > LIMIT:
            num = _as_object(num)
        self.num, self.den = num, den

    @classmethod
    def _raw(cls, num: np.ndarray, den: int) -> "Nodal":
        """Without the checks (numerators known valid, `den` a positive int)."""
        out = cls.__new__(cls)
        out.num, out.den = num, den
        return out

    # ------------------------------------------------------------------ making
    @classmethod
    def zeros(cls, shape) -> "Nodal":
        return cls(np.zeros(shape, dtype=np.int64), 1)

    @classmethod
    def of(cls, values) -> "Nodal":
        """A `Nodal` from an array of exact rationals (`Fraction`s / ints), over the least
        common denominator; a `Nodal` is returned as is."""
        if isinstance(values, Nodal):
            return values
        values = np.asarray(values, dtype=object)
        flat = [v if isinstance(v, (Fraction, int)) else Fraction(v)
                for v in values.ravel().tolist()]
        den = 1
        for d in {v.denominator for v in flat}:
            den = den * d // math.gcd(den, d)
        nums = [v.numerator * (den // v.denominator) for v in flat]
        num = np.empty(len(nums), dtype=object)
        num[:] = nums
        return cls(num.reshape(values.shape), den).pack()

    def pack(self) -> "Nodal":
        """The same values with int64 numerators where they all fit (else unchanged)."""
        if self.num.dtype == object and _max_abs(self.num) <= LIMIT:
            self.num = np.array(self.num.tolist(), dtype=np.int64).reshape(self.num.shape)
        return self

    # ------------------------------------------------------------------ numpy-like
    @property
    def shape(self):
        return self.num.shape

    @property
    def ndim(self) -> int:
        return self.num.ndim

    @property
    def size(self) -> int:
        return self.num.size

    def copy(self) -> "Nodal":
        return Nodal._raw(self.num.copy(), self.den)

    def ravel(self) -> "Nodal":
        return Nodal._raw(self.num.ravel(), self.den)

    def reshape(self, *shape) -> "Nodal":
        return Nodal._raw(self.num.reshape(*shape), self.den)

    def __getitem__(self, key):
        part = self.num[key]
        if isinstance(part, np.ndarray):
            return Nodal._raw(part, self.den)
        return Fraction(int(part), self.den)

    def __len__(self) -> int:
        return len(self.num)

    def __repr__(self) -> str:
        return f"Nodal(shape={self.shape}, den={self.den}, dtype={self.num.dtype})"

    def fractions(self) -> np.ndarray:
        """An object array of `Fraction`s with the same values."""
        out = np.empty(self.shape, dtype=object)
        den = self.den
        flat = out.reshape(-1)
        flat[:] = [Fraction(v, den) for v in self.num.ravel().tolist()]
        return out

    # ------------------------------------------------------------------ floats
    def _exponent(self) -> int | None:
        """`e` where `den = 2^e` and `num · 2.0^-e` is exact scaling (e <= 1022), else None."""
        den = self.den
        if den & (den - 1):
            return None
        e = den.bit_length() - 1
        return e if e <= 1022 else None

    def floats(self) -> tuple[np.ndarray, np.ndarray]:
        """`(x, exact)`, flat float64 / bool arrays: `x` the floats nearest to the values (as
        `float(Fraction)`: correctly rounded), `exact` where `x` is the value itself."""
        num = self.num.ravel()
        e = self._exponent()
        if e is not None and num.dtype == np.int64:
            scaled = num.astype(np.float64)            # round to nearest, |num| <= 2^62
            exact = scaled.astype(np.int64) == num      # exact: |scaled| <= 2^62 < 2^63
            return scaled * 2.0 ** -e, exact
        if e is not None:           # Python ints: the same per element, in C loops
            scaled = num.astype(np.float64)            # float(v): correctly rounded (CPython)
            return scaled * 2.0 ** -e, _equal_floats(num, scaled)
        ints = num.tolist()
        den = self.den
        xs = [v / den for v in ints]                   # correctly rounded true division
        exact = []
        for x, v in zip(xs, ints):                     # x = p/q exactly iff p·den == v·q
            p, q = x.as_integer_ratio()
            exact.append(p * den == v * q)
        return np.array(xs, dtype=np.float64), np.array(exact, dtype=bool)

    def remainders(self) -> tuple[np.ndarray, np.ndarray] | None:
        """`(x, δ)`, flat float64 arrays: `x` the floats nearest to the values (as `floats`)
        and `δ = value - x`, exactly (as `float(q - Fraction(x))` gives it), for `den = 2^e`
        (e <= 1022); else None. With `X = x·2^e`, an integer, `δ = (num - X)·2^-e`; `num - X`
        is an exact integer, its float correctly rounded (and exact below 2^53), and the
        scaling by `2^-e` is exact: `|num - X| >= 1` keeps it in the normal range."""
        e = self._exponent()
        if e is None:
            return None
        num = self.num.ravel()
        try:
            scaled = num.astype(np.float64)            # correctly rounded, as in `floats`
        except OverflowError:                          # a numerator beyond floats
            return None
        if num.dtype == np.int64:                      # |num| <= 2^62: X fits in int64
            rest = (num - scaled.astype(np.int64)).astype(np.float64)
        else:                                          # Python ints, C loops over objects
            rest = (num - _INT(scaled)).astype(np.float64)  # X an exact Python int
        return scaled * 2.0 ** -e, rest * 2.0 ** -e

    def interval(self) -> tuple[np.ndarray, np.ndarray]:
        """Float arrays `(lo, hi)` (this shape) around the values: the nearest float where it
        is exact, else the floats either side of it (one ulp: `lo <= value <= hi`)."""
        x, exact = self.floats()
        with np.errstate(all="ignore"):
            lo = np.where(exact, x, step_down(x)).reshape(self.shape)
            hi = np.where(exact, x, step_up(x)).reshape(self.shape)
        return lo, hi

    # ------------------------------------------------------------------ exact operations
    def over(self, den: int) -> "Nodal":
        """The same values over `den`, a multiple of `self.den`."""
        if den == self.den:
            return self
        if den % self.den:
            raise ValueError(f"den={den} is not a multiple of {self.den}")
        factor = den // self.den
        num = self.num
        if num.dtype == np.int64 and (factor > LIMIT or _max_abs(num) * factor > LIMIT):
            num = _as_object(num)              # (numpy refuses a factor beyond int64)
        return Nodal._raw(num * factor, den)

    def for_units(self, bits: int) -> "Nodal":
        """`self` over a denominator that `2^-bits` divides (the least such multiple)."""
        scale = 1 << bits
        return self.over(self.den * scale // math.gcd(self.den, scale))

    def with_units(self, index, units, bits: int) -> "Nodal":
        """A copy with `units · 2^-bits` added at `index` (no repeated positions)."""
        out = self.for_units(bits).copy()
        out.put_units(index, out, units, bits)
        return out

    def put_units(self, index, base: "Nodal", units, bits: int) -> None:
        """In place: `self[index] = base[index] + units · 2^-bits`, where `self` and `base`
        hold the same denominator, one that `2^-bits` divides."""
        if self.den != base.den or self.den % (1 << bits):
            raise ValueError(f"den={self.den} and base den={base.den} must agree and be "
                             f"multiples of 2^{bits}")
        units = _units_array(units)
        if not units.size:
            return
        factor = self.den >> bits
        start = base.num[index]
        if self.num.dtype == np.int64 and (factor > LIMIT or start.dtype == object
                                           or units.dtype == object
                                           or _max_abs(start) + _max_abs(units) * factor
                                           > LIMIT):       # (the bound: int64 only)
            self.num = _as_object(self.num)
        if self.num.dtype == object:
            start, units = _as_object(start), _as_object(units)
        self.num[index] = start + units * factor

    def __add__(self, other: "Nodal") -> "Nodal":
        """The exact sum, over the lcm of the two denominators."""
        den = self.den * other.den // math.gcd(self.den, other.den)
        a, b = self.over(den).num, other.over(den).num
        if (a.dtype == np.int64 and b.dtype == np.int64
                and _max_abs(a) + _max_abs(b) > LIMIT):
            a = _as_object(a)
        return Nodal._raw(a + b, den)

    def halved(self) -> "Nodal":
        """The values divided by 2 (the numerators kept, the denominator doubled)."""
        return Nodal._raw(self.num, self.den * 2)

    def signs(self) -> np.ndarray:
        """The exact sign of every value (int8 array of this shape; `den > 0`)."""
        if self.num.dtype == np.int64:
            return np.sign(self.num).astype(np.int8)
        return np.array([(v > 0) - (v < 0) for v in self.num.ravel().tolist()],
                        dtype=np.int8).reshape(self.shape)

    def refine(self, ratio: int) -> "Nodal":
        """Nodal values of the same piecewise-linear function on the grid `ratio` times
        finer (as `freudenthal.refine`; numerators weighted by integers summing to `ratio`,
        over `den · ratio`)."""
        from .freudenthal import refine_pattern
        num = self.num
        if num.dtype == np.int64 and _max_abs(num) * ratio > LIMIT:
            num = _as_object(num)
        n = num.shape[0] - 1
        fine = np.empty((n * ratio + 1,) * num.ndim, dtype=num.dtype)
        for target, parts in refine_pattern(num.ndim, n, ratio):
            total = None
            for weight, source in parts:
                part = num[source] if weight == 1 else num[source] * weight
                total = part if total is None else total + part
            fine[target] = total
        return Nodal._raw(fine, self.den * ratio).pack()
