"""Target functions: load a SymPy-written `f`, refuse what is not continuous on the cube,
and evaluate it fast in every number model.

`load_target` executes the file, traces `f` with real symbols `x1..xd`, checks the traced
expression (supported operations only, no jumps, and every division / root / log proved
harmless on the closed cube by interval bisection), classifies it, and compiles `f` and its
gradient once (`certify.engine.expression`) into plain Python code that calls context methods.
"""

from __future__ import annotations

import builtins
import inspect
import itertools
import os
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy
from flint import arb

from .errors import NotExact, TargetError
from .lipschitz import piecewise_linear_slope, verify_lipschitz
from .engine.numbers import BallContext, ExactContext, ball_bounds, parse_rational
from .engine.expression import (Sgn, Step, _CONTEXTS, _IV, _UNARY, _Iv, _Program, _adapt, _ball_of,
                         _diff, box_balls)

_JUMPS = (sympy.sign, sympy.floor, sympy.ceiling, sympy.frac, sympy.Heaviside, sympy.Mod,
          sympy.DiracDelta)
_COMPLEX = (sympy.re, sympy.im, sympy.arg, sympy.conjugate)
_CONDITIONS = (sympy.logic.boolalg.BooleanFunction, sympy.logic.boolalg.BooleanAtom,
               sympy.core.relational.Relational)
_ALLOWED = "+ - * / powers sqrt exp log sin cos tan atan sinh cosh tanh Abs Max Min pi E"
_BUDGET, _MIN_WIDTH = 2000, Fraction(1, 2 ** 20)     # domain proofs: boxes, finest box side

# --------------------------------------------------------------------------- checks

def _short(e, limit: int = 70) -> str:
    text = sympy.sstr(e).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _point(symbols, pt) -> str:
    return ", ".join(f"{s}={q}" for s, q in zip(symbols, pt))


def _check_structure(expr) -> None:
    """Refuse jumps, conditions, complex values, infinities and unknown functions."""
    if isinstance(expr, _CONDITIONS):
        raise TargetError(f"target f returns a condition, not a number: {_short(expr)}")
    for node in sympy.preorder_traversal(expr):
        if node.is_Symbol or node.is_Rational or node is sympy.pi or node is sympy.E:
            continue
        if node.is_Add or node.is_Mul or node.is_Pow or node.func in _UNARY \
                or node.func in (sympy.Max, sympy.Min):
            if node.func not in (Sgn, Step):
                continue
        if node in (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise TargetError(f"target f is not finite on the cube: it traces to {_short(expr)}")
        if node is sympy.I or node.func in _COMPLEX or node.is_Number and not node.is_real:
            raise TargetError(f"target f is not real: {_short(node)} is complex")
        if isinstance(node, sympy.Piecewise):
            raise TargetError(f"target f is not continuous on the cube: {_short(node)} may jump"
                              " (write kinks with Abs/Max/Min instead of Piecewise)")
        if node.func in _JUMPS:
            raise TargetError(f"target f is not continuous on the cube: {_short(node)} has a "
                              "jump (use Abs/Max/Min for kinks)")
        if isinstance(node, _CONDITIONS):
            raise TargetError(f"target f is not continuous on the cube: {_short(node)} is a "
                              "condition")
        name = getattr(node.func, "__name__", type(node).__name__)
        raise TargetError(f"target f uses {name} ({_short(node)}), which is not supported "
                          f"(allowed: {_ALLOWED})")


def _conditions(expr):
    """(kind, u, op) for every sub-expression that needs `u` nonzero/positive/nonnegative,
    innermost first."""
    out = []
    for node in sympy.postorder_traversal(expr):
        if node.is_Pow:
            base, ex = node.args
            if not ex.is_Rational:
                out.append(("positive", base, node))
            elif ex.q != 1:
                out.append(("positive" if ex < 0 else "nonneg", base, node))
            elif ex < 0:
                out.append(("nonzero", base, node))
        elif node.func is sympy.log:
            out.append(("positive", node.args[0], node))
        elif node.func is sympy.tan:
            out.append(("nonzero", sympy.cos(node.args[0]), node))
    return list(dict.fromkeys(out))


class _Prover:
    """Proves domain conditions on [0,1]^d by interval bisection, or finds a witness."""

    def __init__(self, symbols):
        self.symbols = symbols
        self.dim = len(symbols)
        self.proven: set = set()

    def check(self, kind, u, op):
        prog = _Program({"v": [u]}, self.symbols, self.proven)
        good = {"nonzero": lambda v: v.lo > 0 or v.hi < 0, "positive": lambda v: v.lo > 0,
                "nonneg": lambda v: v.lo >= 0}[kind]
        seen = {}
        zero, one = Fraction(0), Fraction(1)
        for corner in itertools.islice(itertools.product((zero, one), repeat=self.dim), 64):
            self._test(kind, u, op, prog, corner, seen)
        queue, count = deque([((zero,) * self.dim, (one,) * self.dim)]), 0
        while queue:
            lo, hi = queue.popleft()
            count += 1
            v = prog.run("v", _IV, [_Iv(_ball_of(a), _ball_of(b)) for a, b in zip(lo, hi)])[0]
            if good(v):
                continue
            self._test(kind, u, op, prog, tuple((a + b) / 2 for a, b in zip(lo, hi)), seen)
            i = max(range(self.dim), key=lambda j: hi[j] - lo[j])
            if count >= _BUDGET or hi[i] - lo[i] <= _MIN_WIDTH:
                what = {"nonzero": "nonzero", "positive": "positive", "nonneg": "nonnegative"}
                raise TargetError(f"target f: cannot prove {_short(u)} is {what[kind]} on the "
                                  f"cube (needed by {_short(op)})")
            m = (lo[i] + hi[i]) / 2
            queue.append((lo, hi[:i] + (m,) + hi[i + 1:]))
            queue.append((lo[:i] + (m,) + lo[i + 1:], hi))
        if kind != "nonzero":
            self.proven.add(u)

    def _sign(self, u, prog, pt):
        try:
            v = prog.run("v", _CONTEXTS["exact"], list(pt))[0]
            return (v > 0) - (v < 0)
        except (NotExact, ZeroDivisionError, ValueError, ArithmeticError):
            pass
        v = prog.run("v", _IV, [_Iv(_ball_of(q), _ball_of(q)) for q in pt])[0]
        if v.lo > 0 or v.hi < 0:
            return 1 if v.lo > 0 else -1
        try:
            val = u.xreplace({s: sympy.Rational(q.numerator, q.denominator)
                              for s, q in zip(self.symbols, pt)})
            return 0 if val.is_zero else 1 if val.is_positive else -1 if val.is_negative else None
        except Exception:     # sympy could not decide: no witness here
            return None

    def _test(self, kind, u, op, prog, pt, seen):
        s = self._sign(u, prog, pt)
        if s is None:
            return
        where = _point(self.symbols, pt)
        head = f"target f is not {'real' if kind == 'nonneg' else 'finite'} on [0,1]^{self.dim}"
        if kind == "nonzero":
            verb = "has a pole" if op.func is sympy.tan else "divides by zero"
            if s == 0:
                raise TargetError(f"{head}: {_short(op)} {verb} at {where}")
            seen.setdefault(s, where)
            if -s in seen:
                raise TargetError(f"{head}: {_short(op)} {verb} somewhere: {_short(u)} changes "
                                  f"sign between {seen[-s]} and {where}")
        elif s < 0 or s == 0 and kind == "positive":
            rel = ">" if kind == "positive" else ">="
            raise TargetError(f"{head}: {_short(op)} needs {_short(u)} {rel} 0, which fails "
                              f"at {where}")


def _classify(expr, symbols) -> str:
    def linear(e):
        if e.is_Rational or e.is_Symbol:
            return True
        if e.is_Add or e.func in (sympy.Abs, sympy.Max, sympy.Min):
            return all(map(linear, e.args))
        if e.is_Mul:
            consts = [a for a in e.args if not a.free_symbols]
            rest = [a for a in e.args if a.free_symbols]
            return all(c.is_Rational for c in consts) and len(rest) == 1 and linear(rest[0])
        return False

    if linear(expr):
        return "piecewise-linear"
    try:
        if expr.is_polynomial(*symbols) and sympy.Poly(expr, *symbols).domain in (sympy.ZZ,
                                                                                 sympy.QQ):
            return "polynomial"
    except sympy.PolynomialError:
        pass
    return "general"


# --------------------------------------------------------------------------- target

@dataclass(frozen=True)
class Target:
    """A checked, compiled target `f` on [0,1]^dim."""

    path: str
    name: str
    dim: int
    expr: sympy.Expr
    symbols: tuple
    kind: str
    lipschitz: Fraction | None     # a *verified* max-norm Lipschitz constant, or None
    _program: _Program = field(repr=False, compare=False, default=None)
    lipschitz_note: str | None = None   # why a declared LIPSCHITZ is not established

    def __reduce__(self):
        """Pickle by expression (compiled code is rebuilt), e.g. for worker processes."""
        return _rebuild, (self.path, self.name, self.dim, self.expr, self.symbols, self.kind,
                          self.lipschitz, frozenset(self._program.proven), self.lipschitz_note)

    @property
    def derivatives(self) -> tuple:
        """The partial derivatives as SymPy expressions (kinks as `Sgn`/`Step` factors)."""
        return tuple(self._program.derivatives)

    def _inputs(self, ctx, x):
        if len(x) != self.dim:
            raise ValueError(f"f takes {self.dim} coordinates, got {len(x)}")
        if isinstance(ctx, BallContext):
            return [v if isinstance(v, arb) else _ball_of(v) for v in x]
        if isinstance(ctx, ExactContext):
            return [Fraction(v) for v in x]
        return [v if isinstance(v, (float, np.ndarray)) else float(v) for v in x]

    def evaluate(self, ctx, x):
        """f(x) in context `ctx` (EXACT raises NotExact for a transcendental value)."""
        ctx = _adapt(ctx)
        return self._program.run("value", ctx, self._inputs(ctx, x))[0]

    def gradient(self, ctx, x) -> list:
        """∇f at x (BALL: x may be boxes; entries non-finite where f may be non-smooth)."""
        ctx = _adapt(ctx)
        try:
            return self._program.run("grad", ctx, self._inputs(ctx, x))
        except ZeroDivisionError:
            raise NotExact("f is not differentiable at this point") from None

    def exact(self, x) -> Fraction:
        """The exact value at a rational point (piecewise-linear and polynomial targets)."""
        if self.kind == "general":
            raise NotExact(f"{self.name}: a general target has no exact values")
        return Fraction(self.evaluate(_CONTEXTS["exact"], x))

    def ball(self, x) -> arb:
        """A rigorous Arb enclosure of f at the rational point x."""
        return self.evaluate(_CONTEXTS["ball"], [_ball_of(v) for v in x])

    _balls = staticmethod(box_balls)

    def mean_value(self, lo, hi):
        """(f at the box midpoint, ∇f over the box), as balls."""
        mid, box = self._balls(lo, hi)
        run, ball = self._program.run, _CONTEXTS["ball"]
        return run("value", ball, mid)[0], run("grad", ball, box)

    def box_balls(self, mid, box):
        """(f at the ball `mid`, f over the ball `box`, ∇f over `box`): two program runs,
        for callers that build the balls themselves (`certify.engine.vectorised`)."""
        run, ball = self._program.run, _CONTEXTS["ball"]
        both = run("both", ball, box)
        return run("value", ball, mid)[0], both[0], both[1:]

    def boxes_balls(self, mids, sides) -> tuple:
        """`box_balls` of many sub-boxes: `mids`, `sides` per coordinate, object arrays of
        balls; `(f at mid, f over box, [∇f over box])` as object arrays. One run of each
        program over all sub-boxes (`certify.engine.ball_arrays`: every ball the scalar Arb
        context's, bit for bit), or box by box where that context lacks an operation."""
        from .engine.ball_arrays import arrays_of, balls_of, outputs
        count = len(mids[0])
        try:
            context = arrays_of(_CONTEXTS["ball"])
            both = outputs(self._program, "both", context, sides, (count,))
            value = outputs(self._program, "value", context, mids, (count,))[0]
            return value, both[0], both[1:]
        except (AttributeError, TypeError, ArithmeticError, ValueError):
            pass
        rows = [self.box_balls([m[k] for m in mids], [s[k] for s in sides])
                for k in range(count)]
        return (balls_of(r[0] for r in rows), balls_of(r[1] for r in rows),
                [balls_of(r[2][a] for r in rows) for a in range(self.dim)])

    def box_intervals(self, mid, box, ctx=None):
        """`box_balls` for many sub-boxes at once: `mid` and `box` are per-coordinate
        `IntervalArray`s (`certify.engine.intervals`; `ctx` another context of them, as
        `certify.engine.gathered.GATHER`); end points may be NaN where the float intervals
        give no enclosure (callers then use `box_balls`)."""
        from .engine.intervals import INTERVALS
        run, ctx = self._program.run, ctx or INTERVALS
        both = run("both", ctx, box)
        return run("value", ctx, mid)[0], both[0], both[1:]

    def enclose(self, lo, hi) -> tuple[Fraction, Fraction]:
        """Exact rationals bounding f over the box [lo, hi]: naive ∩ mean-value form."""
        result = self._enclosure(lo, hi)
        if result is not None:
            return ball_bounds(result)
        return self._split(list(map(Fraction, lo)), list(map(Fraction, hi)), 0)

    def _enclosure(self, lo, hi):
        """The ball of f over [lo, hi] (naive ∩ mean-value form), None if not finite."""
        mid, box = self._balls(lo, hi)
        run, ball = self._program.run, _CONTEXTS["ball"]
        out = run("both", ball, box)
        naive, grad = out[0], out[1:]
        result = naive if naive.is_finite() else None
        if all(g.is_finite() for g in grad):
            mv = run("value", ball, mid)[0]
            for g, x, m in zip(grad, box, mid):
                mv += g * (x - m)
            if mv.is_finite():
                if result is not None and not mv.overlaps(result):
                    raise ArithmeticError(f"{self.name}: disjoint enclosures on {lo}..{hi}")
                result = mv if result is None else mv.intersection(result)
        return result

    def _split(self, lo, hi, depth):
        """Enclosure by bisection when the box is too wide for a finite ball."""
        if depth >= 8:
            raise ArithmeticError(f"{self.name}: no finite enclosure on the box {lo}..{hi}")
        i = max(range(self.dim), key=lambda j: hi[j] - lo[j])
        m = (lo[i] + hi[i]) / 2
        parts = []
        for a, b in ((lo, hi[:i] + [m] + hi[i + 1:]), (lo[:i] + [m] + lo[i + 1:], hi)):
            result = self._enclosure(a, b)
            parts.append(ball_bounds(result) if result is not None
                         else self._split(a, b, depth + 1))
        return min(p[0] for p in parts), max(p[1] for p in parts)

    def floats(self, points) -> np.ndarray:
        """f at each row of `points` (shape (n, d)), in float64; for sampling only."""
        points = np.asarray(points, dtype=float).reshape(-1, self.dim)
        with np.errstate(all="ignore"):
            value = self.evaluate(_CONTEXTS["float"], tuple(points.T))
        return np.broadcast_to(np.asarray(value, dtype=float), (len(points),)).copy()


# --------------------------------------------------------------------------- loading

def _lipschitz(value, where: str) -> Fraction | None:
    """LIPSCHITZ as an exact rational; a SymPy constant such as 2*pi is rounded up."""
    if value is None:
        return None
    try:
        if isinstance(value, sympy.Basic):
            if isinstance(value, sympy.Rational):
                q = Fraction(int(value.p), int(value.q))
            elif isinstance(value, sympy.Float):
                q = Fraction(sympy.Rational(value).p, sympy.Rational(value).q)
            elif value.is_number and value.is_real and not value.free_symbols:
                prog = _Program({"v": [value]}, (), set())
                q = ball_bounds(prog.run("v", _CONTEXTS["ball"], [])[0])[1]
            else:
                raise ValueError(f"{value} is not a real constant")
        elif isinstance(value, (np.integer, np.floating)):
            q = parse_rational(value.item(), "LIPSCHITZ")
        else:
            q = parse_rational(value, "LIPSCHITZ")
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise TargetError(f"{where}: LIPSCHITZ = {value!r} is not a finite number ({exc})") \
            from None
    if q <= 0:
        raise TargetError(f"{where}: LIPSCHITZ = {value!r} must be positive")
    return q


def _trace(f, name: str):
    """(dim, symbols, expr) of the callable `f`, with floats read as exact rationals."""
    if not callable(f):
        raise TargetError(f"{name}: f is not a function")
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        raise TargetError(f"{name}: cannot read the parameters of f") from None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        raise TargetError(f"{name}: f takes *args; give it one parameter per coordinate")
    if any(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in params):
        raise TargetError(f"{name}: f has a required keyword-only parameter")
    dim = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    if dim == 0:
        raise TargetError(f"{name}: f takes no arguments (arity 0); "
                          "give it one parameter per coordinate")
    symbols = sympy.symbols(f"x1:{dim + 1}", real=True)
    try:
        result = f(*symbols)
    except Exception as exc:
        message = str(exc).replace("\n", " ")
        hint = " (f branches on its argument: write kinks with Abs/Max/Min)" \
            if "truth value" in message else " (use sympy functions, not math or numpy)" \
            if isinstance(exc, (TypeError, AttributeError)) else ""
        raise TargetError(f"{name}: f raised {type(exc).__name__} while tracing: {message}{hint}") \
            from None
    if isinstance(result, bool):
        raise TargetError(f"target f returns a condition, not a number: {result}")
    try:
        expr = sympy.sympify(result, strict=True)
    except (sympy.SympifyError, TypeError, ValueError):
        raise TargetError(f"target f returns {type(result).__name__}, not a number or "
                          "SymPy expression") from None
    if not isinstance(expr, sympy.Basic) or isinstance(expr, sympy.MatrixBase):
        raise TargetError(f"target f returns {type(result).__name__}, not one number")
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise TargetError(f"target f is not finite on the cube: it traces to {_short(expr)}")
    floats = expr.atoms(sympy.Float)
    if floats:
        expr = expr.xreplace({x: sympy.Rational(x) for x in floats})
    stray = expr.free_symbols - set(symbols)
    if stray:
        raise TargetError(f"target f uses the symbol {sorted(map(str, stray))[0]}, which is not "
                          "one of its arguments (build f from its parameters)")
    return dim, symbols, expr


def target_from_function(f, name: str = "<function>", lipschitz=None,
                         path: str | None = None) -> Target:
    """Check, classify and compile the callable `f` (what `load_target` does after loading)."""
    dim, symbols, expr = _trace(f, name)
    return _target(dim, symbols, expr, name, lipschitz, path)


def target_from_expression(text: str, lipschitz=None) -> Target:
    """The target of `--expr`: a formula parsed by a whitelist, never executed."""
    from .formula import parse_formula
    dim, symbols, expr = parse_formula(text)
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise TargetError(f"--expr is not finite on the cube: it is {_short(expr)}")
    return _target(dim, symbols, expr, "--expr " + _short(text, 50), lipschitz, None)


def _target(dim, symbols, expr, name, lipschitz, path) -> Target:
    """Check the domain, classify, compile, verify LIPSCHITZ: the shared end of loading."""
    _check_structure(expr)
    prover = _Prover(symbols)
    for kind, u, op in _conditions(expr):
        prover.check(kind, u, op)
    program = _compile(expr, symbols, prover.proven)
    claimed = _lipschitz(lipschitz, name)
    kind = _classify(expr, symbols)
    verified, note = None, None
    if claimed is not None:
        if kind == "piecewise-linear" and piecewise_linear_slope(program, dim) <= claimed:
            verified = claimed
        else:
            verified, note = verify_lipschitz(program, dim, claimed)
    target = Target(path if path is not None else name, name, dim, expr, tuple(symbols),
                    kind, verified, program, note)
    _check_magnitude(target)
    return target


MAX_MAGNITUDE = Fraction(10) ** 300      # |f| must stay within float range (sampling)


def _check_magnitude(target: Target) -> None:
    """Refuse an f with no finite enclosure on the cube, or values beyond float range."""
    try:
        lo, hi = target.enclose((Fraction(0),) * target.dim, (Fraction(1),) * target.dim)
    except (ArithmeticError, ValueError, OverflowError):
        raise TargetError(f"{target.name}: f has no finite enclosure on the cube (its values "
                          "overflow the arithmetic)", "scale f down") from None
    if max(abs(lo), abs(hi)) > MAX_MAGNITUDE:
        from .engine.numbers import _decade
        raise TargetError(f"{target.name}: f may reach magnitude "
                          f"10^{_decade(max(abs(lo), abs(hi)))} "
                          "on the cube, beyond the float range used for sampling (10^300)",
                          "scale f down")


def _compile(expr, symbols, proven) -> _Program:
    """The value / gradient / both programs of a checked expression."""
    derivatives = [_diff(expr, s, {}) for s in symbols]
    program = _Program({"value": [expr], "grad": derivatives, "both": [expr, *derivatives]},
                       symbols, proven)
    program.derivatives = derivatives
    return program


def _rebuild(path, name, dim, expr, symbols, kind, lipschitz, proven, note=None) -> Target:
    """Unpickle a Target: recompile, without re-running the checks."""
    return Target(path, name, dim, expr, symbols, kind, lipschitz,
                  _compile(expr, symbols, proven), note)


def load_target(path: str) -> Target:
    """Load, check and compile the target file `path`; TargetError (one line) if unusable."""
    name, f, lipschitz = load_target_function(path)
    return target_from_function(f, name, lipschitz, path)


def load_target_function(path: str):
    """(name, f, LIPSCHITZ or None) of a target file, unchecked (`certify.interfaces.domain` composes f
    with a map first); TargetError (one line) if it cannot be loaded or defines no f."""
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetError(f"cannot read target file {path}: {exc.__class__.__name__}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    namespace = {"__name__": "__certify_target__", "__file__": os.path.abspath(path),
                 "__builtins__": builtins}
    try:
        exec(compile(source, os.path.abspath(path), "exec"), namespace)
    except SyntaxError as exc:
        raise TargetError(f"{name}: syntax error at line {exc.lineno}: {exc.msg}") from None
    except (Exception, SystemExit) as exc:
        message = str(exc).replace("\n", " ")
        raise TargetError(f"{name}: loading raised {type(exc).__name__}: {message}") from None
    if "f" not in namespace:
        raise TargetError(f"{name} does not define f", "write def f(x1, ..., xd): ...")
    return name, namespace["f"], namespace.get("LIPSCHITZ")
