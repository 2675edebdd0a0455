"""Certificates: per-grade results, the overall verdict, the `certify-report/1` file and
the table `certify check` prints.

Verdicts are `proved`, `refuted` or `unknown`, kept apart everywhere: the overall verdict
is *refuted* if some (G1) or (G2) claim is refuted, else *unknown* if some is unknown,
else *proved*. (G2) of a trivial grade (`g_k ≡ 0`, decided exactly) is `not owed`: it is
neither a proof of strict decay nor a failure, and counts as proved in the verdict. No-overshoot and the a priori bound are reported beside it. Bounds are
written as exact rationals or as decimals rounded outward, so each string is itself a
valid bound.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..fileio import atomic_write_text
from ..engine.numbers import decimal_bound, format_rational
from ..engine.residual import Counterexample

FORMAT = "certify-report/1"
PROVED, REFUTED, UNKNOWN = "proved", "refuted", "unknown"
#: (G2) of a trivial grade (`g_k ≡ 0`, decided exactly): nothing to prove, nothing failed
NOT_OWED = "not owed"
_RANK = {PROVED: 0, NOT_OWED: 0, UNKNOWN: 1, REFUTED: 2}


def worst(*statuses: str) -> str:
    """Combine verdicts: refuted beats unknown beats proved ("not owed" counts as proved)."""
    if not statuses:
        return PROVED
    status = max(statuses, key=_RANK.__getitem__)
    return PROVED if status == NOT_OWED else status


def _up(q: Fraction | None) -> str | None:
    return None if q is None else decimal_bound(q, "up", digits=8)


def _down(q: Fraction | None) -> str | None:
    return None if q is None else decimal_bound(q, "down", digits=8)


@dataclass
class LpResult:
    """(G2) for one exponent: enclosure of `‖e_k‖_p` and a lower bound on the decrease."""

    p: Fraction
    norm_lower: Fraction
    norm_upper: Fraction | None
    decrease_lower: Fraction | None
    status: str
    method: str

    def to_json(self) -> dict:
        return {"p": format_rational(self.p), "norm_lower": _down(self.norm_lower),
                "norm_upper": _up(self.norm_upper),
                "decrease_lower": None if self.decrease_lower is None else (
                    format_rational(self.decrease_lower)
                    if len(format_rational(self.decrease_lower)) <= 40
                    else _down(self.decrease_lower)),
                "status": self.status, "method": self.method}


@dataclass
class GradeResult:
    """Everything established for one grade."""

    grade: int
    width: int
    depth: int
    hats: int | None
    path: str                      # "local" (hats recognised) or "general"
    monotone: str
    no_overshoot: str
    sup_upper: Fraction | None      # None: no enclosure could be computed
    sup_lower: Fraction
    sup_witness: tuple[Fraction, ...] | None
    lp: list[LpResult]
    nontrivial: bool | None
    counterexample: Counterexample | None = None
    no_overshoot_counterexample: Counterexample | None = None
    a_priori: Fraction | None = None
    seconds: float = 0.0
    queries: int = 0
    notes: list[str] = field(default_factory=list)
    regions: int | None = None      # regions path: the number of linear regions
    regions_seconds: float | None = None   # regions path: time to enumerate them
    #: estimated sup error of the nodal interpolant on this grade's grid (not a bound)
    interp_error: float | None = None

    @property
    def sup_over_interp(self) -> float | None:
        """Certified sup bound / estimated interpolation error: the price of monotonicity."""
        if self.interp_error is None or self.interp_error <= 0 or self.sup_upper is None:
            return None
        return float(self.sup_upper) / self.interp_error

    @property
    def verdict(self) -> str:
        """(G1) and (G2) of this grade."""
        return worst(self.monotone, *(lp.status for lp in self.lp))

    @property
    def a_priori_respected(self) -> bool | None:
        if self.a_priori is None or self.sup_upper is None:
            return None
        return self.sup_upper <= self.a_priori

    def to_json(self) -> dict[str, Any]:
        out = {
            "grade": self.grade, "width": self.width, "depth": self.depth, "hats": self.hats,
            "path": self.path, "regions": self.regions, "verdict": self.verdict,
            "monotone": self.monotone, "no_overshoot": self.no_overshoot,
            "nontrivial": self.nontrivial,
            "sup_upper": _up(self.sup_upper), "sup_lower": _down(self.sup_lower),
            "sup_witness": None if self.sup_witness is None else
            [format_rational(v) for v in self.sup_witness],
            "lp": [lp.to_json() for lp in self.lp],
            "counterexample": self.counterexample.to_json() if self.counterexample else None,
            "no_overshoot_counterexample": self.no_overshoot_counterexample.to_json()
            if self.no_overshoot_counterexample else None,
            "seconds": round(self.seconds, 3),
            "regions_seconds": None if self.regions_seconds is None else
            round(self.regions_seconds, 3),
            "solver_queries": self.queries,
        }
        if self.a_priori is not None:
            out["a_priori_bound"] = _up(self.a_priori)
            out["a_priori_respected"] = self.a_priori_respected
        if self.interp_error is not None:
            out["interp_error_estimate"] = float(f"{self.interp_error:.4g}")
            out["sup_over_interp"] = None if self.sup_over_interp is None else \
                float(f"{self.sup_over_interp:.4g}")
        if self.notes:
            out["notes"] = self.notes
        return out


@dataclass
class Report:
    """The certificate of a whole network."""

    dim: int
    target: str
    grades: list[GradeResult] = field(default_factory=list)
    complete: bool = False
    info: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if not self.complete:
            return UNKNOWN
        return worst(*(g.verdict for g in self.grades))

    @property
    def exit_status(self) -> int:
        return {PROVED: 0, REFUTED: 1, UNKNOWN: 3}[self.verdict]

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "dim": self.dim, "target": self.target,
                "verdict": self.verdict, "complete": self.complete, **self.info,
                "grades": [g.to_json() for g in self.grades]}

    def write(self, path: str) -> None:
        """Atomically (a killed run leaves the previous file or none, never half a file)."""
        atomic_write_text(path, json.dumps(self.to_json(), indent=1) + "\n")


# --------------------------------------------------------------------------- table

COLUMNS = ("grade", "width", "depth", "hats", "monotone", "no-overshoot", "sup <=", "sup >=",
           "sup / interp", "L^p decrease >=", "time")

_STYLE = {PROVED: "green", REFUTED: "bold red", UNKNOWN: "yellow"}


def row(g: GradeResult) -> list[str]:
    """One table row as plain strings."""
    lp = "  ".join(f"p={format_rational(r.p)}:" + (
        "trivial" if g.nontrivial is False else
        (decimal_bound(r.decrease_lower, 'down', 3) if r.decrease_lower else r.status))
        for r in g.lp)
    return [str(g.grade), str(g.width), str(g.depth), "-" if g.hats is None else str(g.hats),
            g.monotone, g.no_overshoot,
            "?" if g.sup_upper is None else decimal_bound(g.sup_upper, "up", 6),
            decimal_bound(g.sup_lower, "down", 6),
            "-" if g.sup_over_interp is None else f"{g.sup_over_interp:.3g}",
            lp, f"{g.seconds:.2f}s"]


def table(report: Report):
    """A rich Table of the report (for printing at the end or in notebooks)."""
    from rich.table import Table
    t = Table(title=f"certify check {report.target}: {report.verdict}")
    for name in COLUMNS:
        t.add_column(name, justify="right" if name not in ("monotone", "no-overshoot") else
                     "center")
    for g in report.grades:
        cells = row(g)
        cells[4] = f"[{_STYLE[g.monotone]}]{cells[4]}[/]"
        cells[5] = f"[{_STYLE[g.no_overshoot]}]{cells[5]}[/]"
        t.add_row(*cells)
    return t


def plain_row(g: GradeResult, widths=(5, 5, 5, 6, 9, 12, 10, 10, 12, 34, 8)) -> str:
    """A fixed-width text row, printed as soon as a grade finishes."""
    return " ".join(c.rjust(w) for c, w in zip(row(g), widths))


def plain_header(widths=(5, 5, 5, 6, 9, 12, 10, 10, 12, 34, 8)) -> str:
    return " ".join(c.rjust(w) for c, w in zip(COLUMNS, widths))
