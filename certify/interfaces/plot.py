"""Pictures of the residuals `e_k = f - F_k`, grade by grade (`certify plot`).

One job: draw. For `d = 1` (or one free coordinate of a slice) the residual curves of every
grade share one axes, over a log-scale panel of `|e_k|`; for `d = 2` (or two free
coordinates) a grid of heat maps shows `e_0 = f` and each `e_k`, with the Freudenthal
triangulation of grade `k`'s level drawn when the network records its levels in `meta` and
the mesh is not too fine. A target with `d > 2` must be sliced: `--slice x3=1/2` fixes a
coordinate at an exact rational.

Everything here is sampled in float64 (`Target.floats`, `Network.outputs_floats`). That is
fine because a picture proves nothing: certificates come from `certify check`, never from
this module. Matplotlib is used through `Figure` and the Agg canvas directly, so importing
this module changes no global matplotlib state. The PNG is written atomically.
"""

from __future__ import annotations

import io
import math
import re
import sys
from fractions import Fraction

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from ..errors import UsageError
from ..fileio import atomic_write_bytes, output_path
from ..engine.numbers import format_rational, parse_rational

#: pixels per inch of the PNG; with the sizes below every image has a whole number of pixels
DPI = 100
#: 1-D figure: curves over |e_k| on a log scale (inches)
CURVES_SIZE = (9.0, 6.0)
#: 2-D figure: one heat map per panel, at most PANEL_COLUMNS a row, plus a title strip
PANEL_SIZE = (3.5, 3.0)
PANEL_COLUMNS = 4
TITLE_HEIGHT = 0.5
#: the triangulation is drawn only up to this many mesh intervals per side
MAX_DRAWN_INTERVALS = 32
DEFAULT_SAMPLES = {1: 1601, 2: 161}

_SLICE = re.compile(r"^\s*x(\d+)\s*=\s*(\S+)\s*$")


# --------------------------------------------------------------------------- arguments

def parse_slices(texts, dim: int) -> dict[int, Fraction]:
    """`["x3=0.5", "x4=1/3"]` -> `{3: 1/2, 4: 1/3}` (1-based coordinates), validated for `dim`."""
    slices: dict[int, Fraction] = {}
    for text in texts or []:
        where = f"--slice {text}"
        match = _SLICE.match(text)
        if not match:
            raise UsageError(f"{where}: expected xI=VALUE", "e.g. --slice x3=0.5 or x3=1/3")
        index = int(match.group(1))
        if not 1 <= index <= dim:
            raise UsageError(f"{where}: the target has coordinates x1..x{dim}",
                             f"choose an index between 1 and {dim}")
        if index in slices:
            raise UsageError(f"{where}: x{index} is fixed twice", "give each coordinate once")
        try:
            value = parse_rational(match.group(2), where)
        except (ValueError, ZeroDivisionError):
            raise UsageError(f"{where}: {match.group(2)!r} is not a rational number",
                             "write it as p/q or a decimal, e.g. x3=1/2") from None
        if not 0 <= value <= 1:
            raise UsageError(f"{where}: {format_rational(value)} lies outside [0, 1]",
                             "the domain is the unit cube")
        slices[index] = value
    return slices


def free_coordinates(dim: int, slices: dict[int, Fraction] | None) -> list[int]:
    """The 1-based coordinates left free by `slices`; refuse unless one or two remain."""
    slices = slices or {}
    for index, value in slices.items():
        if not 1 <= index <= dim or not 0 <= Fraction(value) <= 1:
            raise UsageError(f"slice x{index}={value} does not fit [0,1]^{dim}")
    free = [i for i in range(1, dim + 1) if i not in slices]
    if not free:
        raise UsageError(f"plot: the slices fix all {dim} coordinates",
                         "leave one or two coordinates free")
    if len(free) > 2:
        example = " ".join(f"--slice x{i}=0.5" for i in free[2:])
        if not slices:
            raise UsageError(f"plot: target has d={dim}; fix all but two coordinates, "
                             f"e.g. {example}")
        raise UsageError(f"plot: {len(free)} coordinates remain free "
                         f"({', '.join(f'x{i}' for i in free)}); fix all but two, e.g. {example}")
    return free


# --------------------------------------------------------------------------- sampling

def _sample(target, network, free, slices, samples):
    """Axes values, and residuals `[e_0, …, e_n]` at the sample points (floats)."""
    axis = np.linspace(0.0, 1.0, samples)
    grids = np.meshgrid(*([axis] * len(free)), indexing="xy")
    points = np.empty((grids[0].size, target.dim))
    for i, value in slices.items():
        points[:, i - 1] = float(value)
    for i, grid in zip(free, grids):
        points[:, i - 1] = grid.ravel()
    f = target.floats(points)
    approximants = np.cumsum(network.outputs_floats(points), axis=1)
    residuals = [f] + [f - approximants[:, k] for k in range(approximants.shape[1])]
    return axis, [e.reshape(grids[0].shape) for e in residuals]


def level_meshes(network) -> list[Fraction | None]:
    """Mesh of each grade's level from `meta["levels"]` (None where unknown: no triangulation)."""
    meshes: list[Fraction | None] = [None] * len(network.grades)
    levels = network.meta.get("levels") if isinstance(network.meta, dict) else None
    if not isinstance(levels, list):
        return meshes
    for k, record in enumerate(levels[:len(meshes)]):
        try:
            h = parse_rational(record["mesh"], "mesh")
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
        if 0 < h <= 1:
            meshes[k] = h
    return meshes


def triangulation_segments(h: Fraction, fixed=()) -> list:
    """Segments of the level triangulation seen in a 2-D slice `[0,1]^2` of the cube.

    The hyperplanes `x_i = m h` and `x_i - x_j = m h` meet the slice in lines `x_a = m h`,
    `x_a = c + m h` (for each fixed value `c`) and `x_a - x_b = m h`.
    """
    n = math.floor(1 / h)
    offsets = {m * h for m in range(n + 1)}
    for c in fixed:
        offsets |= {Fraction(c) + m * h for m in range(-n - 1, n + 2)}
    offsets = sorted(float(o) for o in offsets if 0 <= o <= 1)
    segments = [[(o, 0.0), (o, 1.0)] for o in offsets] + [[(0.0, o), (1.0, o)] for o in offsets]
    for m in range(-n, n + 1):                          # x_a - x_b = m h
        t = float(m * h)
        if -1 < t < 1:
            segments.append([(max(t, 0.0), max(-t, 0.0)), (min(1.0, 1 + t), min(1.0, 1 - t))])
    return segments


# --------------------------------------------------------------------------- figures

def _title(target, network, slices) -> str:
    where = "".join(f", x{i} = {format_rational(v)}" for i, v in sorted(slices.items()))
    return (f"{target.name}: residuals e_k = f - F_k of {len(network.grades)} grades{where}"
            "  (float samples: an illustration, not a certificate)")


def _curves(fig, target, network, free, slices, axis, residuals) -> None:
    top, bottom = fig.subplots(2, 1, sharex=True)
    cmap = colormaps["viridis"]
    peak = max(float(np.max(np.abs(e))) for e in residuals)
    for k, e in enumerate(residuals):
        colour = "black" if k == 0 else cmap((k - 1) / max(1, len(residuals) - 2))
        label = "f = e_0" if k == 0 else f"e_{k}"
        style = "--" if k == 0 else "-"
        top.plot(axis, e, style, color=colour, lw=1.0, label=label)
        magnitude = np.ma.masked_less_equal(np.abs(e), 0.0)
        if magnitude.count():
            bottom.semilogy(axis, magnitude, style, color=colour, lw=1.0)
    top.axhline(0.0, color="grey", lw=0.5)
    top.set_ylabel("e_k(x)")
    top.legend(fontsize=7, ncol=max(1, math.ceil(len(residuals) / 8)), loc="best")
    if peak > 0:        # a float zero of f (sin(pi) ~ 1e-16) would squash everything else
        bottom.set_ylim(bottom=peak * 1e-6)
    bottom.set_ylabel("|e_k(x)|  (log scale)")
    bottom.set_xlabel(f"x{free[0]}")
    bottom.set_xlim(0.0, 1.0)
    fig.suptitle(_title(target, network, slices), fontsize=9)


def _heat_maps(fig, target, network, free, slices, axis, residuals) -> None:
    panels = len(residuals)
    columns = min(PANEL_COLUMNS, panels)
    rows = math.ceil(panels / columns)
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    meshes = [None] + level_meshes(network)
    hats = _hat_counts(network)
    fixed = [v for _, v in sorted(slices.items())]
    for k, ax in enumerate(axes):
        if k >= panels:
            ax.set_visible(False)
            continue
        e = residuals[k]
        scale = float(np.max(np.abs(e))) or 1.0
        image = ax.imshow(e, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r",
                          vmin=-scale, vmax=scale, interpolation="nearest")
        fig.colorbar(image, ax=ax, shrink=0.8)
        h = meshes[k]
        if h is not None and 1 / h <= MAX_DRAWN_INTERVALS:
            ax.add_collection(LineCollection(triangulation_segments(h, fixed), colors="black",
                                             linewidths=0.3, alpha=0.5))
        name = "f = e_0" if k == 0 else f"e_{k}"
        extra = "" if k == 0 or h is None else f", h={format_rational(h)}"
        if k and hats[k - 1] is not None:
            extra += f", {hats[k - 1]} hat" + ("" if hats[k - 1] == 1 else "s")
        ax.set_title(f"{name}{extra}\nmax |.| ~ {scale:.3g}", fontsize=8)
        ax.set_xlabel(f"x{free[0]}", fontsize=8)
        ax.set_ylabel(f"x{free[1]}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    fig.suptitle(_title(target, network, slices), fontsize=9)


def _hat_counts(network) -> list[int | None]:
    counts: list[int | None] = [None] * len(network.grades)
    levels = network.meta.get("levels") if isinstance(network.meta, dict) else None
    for k, record in enumerate(levels[:len(counts)] if isinstance(levels, list) else []):
        if isinstance(record, dict) and isinstance(record.get("hats"), list):
            counts[k] = len(record["hats"])
    return counts


def figure_size(free: int, grades: int) -> tuple[float, float]:
    """Figure size in inches for `free` free coordinates and `grades` grades."""
    if free == 1:
        return CURVES_SIZE
    panels = grades + 1
    columns = min(PANEL_COLUMNS, panels)
    rows = math.ceil(panels / columns)
    return (PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows + TITLE_HEIGHT)


def residual_figure(target, network, slices: dict[int, Fraction] | None = None,
                    samples: int | None = None) -> Figure:
    """The residual picture as a matplotlib `Figure` (not attached to pyplot)."""
    slices = {int(i): Fraction(v) for i, v in (slices or {}).items()}
    if network.dim != target.dim:
        raise UsageError(f"plot: the network has dim {network.dim} but the target has "
                         f"d={target.dim}", "use a network built for this target")
    free = free_coordinates(target.dim, slices)
    samples = DEFAULT_SAMPLES[len(free)] if samples is None else samples
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise UsageError(f"plot: samples={samples!r} must be an integer >= 2")
    axis, residuals = _sample(target, network, free, slices, samples)
    fig = Figure(figsize=figure_size(len(free), len(network.grades)), dpi=DPI,
                 layout="constrained")
    FigureCanvasAgg(fig)
    draw = _curves if len(free) == 1 else _heat_maps
    draw(fig, target, network, free, slices, axis, residuals)
    return fig


def plot_residuals(target, network, path: str, slices: dict[int, Fraction] | None = None,
                   samples: int | None = None) -> tuple[int, int]:
    """Write the residual picture to the PNG `path` atomically; return its (width, height) in px.

    `slices` maps 1-based coordinates to fixed values in [0, 1] (`{3: Fraction(1, 2)}` is
    `--slice x3=1/2`); one or two coordinates must stay free. `samples` is the number of
    sample points per free axis (default 1601 for curves, 161 for heat maps).
    """
    fig = residual_figure(target, network, slices, samples)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    atomic_write_bytes(path, buffer.getvalue())
    width, height = fig.get_size_inches() * DPI
    return round(width), round(height)


# --------------------------------------------------------------------------- command

def _check_output(path: str) -> str:
    output_path(path, "-o")
    if not path.lower().endswith(".png"):
        raise UsageError(f"-o={path}: plot writes PNG images", "give a file name ending in .png")
    return path


def _cli_target(args):
    from ..target import target_from_expression
    return target_from_expression(args.expr, getattr(args, "lipschitz", None))


def run_plot_command(args) -> int:
    """`certify plot`: validate everything, build or read the network, write the PNG."""
    from ..construction import build
    from ..engine.network import read_network
    from ..target import load_target

    output = _check_output(args.output)
    if args.grades is not None and args.grades < 1:
        raise UsageError(f"--grades={args.grades} must be at least 1", "try --grades 5")
    target = _cli_target(args) if getattr(args, "expr", None) is not None else \
        load_target(args.target)
    if args.grades is not None:
        from ..limits import check_construction
        check_construction(target.dim, args.grades, 2, getattr(args, "force", False))
    slices = parse_slices(args.slice, target.dim)
    free = free_coordinates(target.dim, slices)
    if args.grades is not None:
        network = build(target, args.grades)
    else:
        network = read_network(args.network, force=getattr(args, "force", False))
        if network.dim != target.dim:
            raise UsageError(f"--network={args.network} has dim {network.dim} but the target "
                             f"has d={target.dim}", "use a network built for this target")
    width, height = plot_residuals(target, network, output, slices)
    kind = "residual curves" if len(free) == 1 else "residual heat maps"
    print(f"wrote {output}: {kind}, {len(network.grades)} grades ({width}x{height} px)",
          file=sys.stderr)
    return 0
