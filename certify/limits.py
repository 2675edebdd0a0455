"""Resource budgets: estimate a request's size before any work and refuse it past a budget.

A build of `n` grades with ratio `N` in dimension `d` has about `(N^k+1)^d` hats at grade
`k` (the nodes of level `k`). Levels whose coefficients are all zero are skipped, so a
target whose coarse levels vanish (sine, peaks2d: grade 1 holds level 2) holds finer grids
than that: the estimate is made again as each grade is built (`check_building`), from the
level it holds, and the build stops at the first grade that shows the request past a
budget (the build itself never makes a level of more than `MAX_LEVEL_NODES` nodes). A
network read from a file is measured exactly. From these counts comes an estimate of the
memory a check needs: `BYTES_PER_HAT` a hat (1.8-3.1 KB measured on every run of 65 534
hats or more: sine 14/16, peaks2d 7/8, smooth3d 5/6) and the float enclosures on the
sub-boxes of the finest grid (`BYTES_PER_SUB_BOX`). Past a budget the command refuses with
exit 2 and says which number is too large, unless `--force` is given. The budgets are
documented in docs/cli.md ("Limits").
"""

from __future__ import annotations

from .errors import UsageError

MAX_GRADES = 200                  # grades in one request or one network
MAX_HATS = 1_000_000              # hats over all grades of a build (some 20-30 s to check)
MAX_WIDTH = 20_000                # neurons in one layer of a network file
MAX_NEURONS = 1_000_000           # neurons over the whole network
MAX_ENTRIES = 4_000_000           # weights and biases over the whole network
MAX_MEMORY = 4 * 1024 ** 3        # estimated bytes
BYTES_PER_ENTRY = 240             # a Fraction in a tuple, its float copy and checker state
BYTES_PER_HAT = 4 * 1024          # a hat's share of a build and its check (<= 3.1 KB measured)
BYTES_PER_SUB_BOX = 256           # f data on one sub-box: ten float arrays and temporaries
MAX_FILE_BYTES = 32 * 1024 ** 2   # a network file
MAX_SAVED_BYTES = 1024 ** 3        # a network file certify build -o wrote (read as its hats)
MAX_NUMBER_CHARS = 1_000          # one number in a network file
MAX_NESTING = 64                  # JSON nesting depth of a network file

_FORCE = "pass --force to run anyway (see docs/cli.md, Limits)"


def _gib(n: float) -> str:
    return f"{n / 1024 ** 3:.1f} GiB"


def construction_hats(dim: int, grades: int, ratio: int, cap: int = MAX_HATS,
                      first: int = 1) -> int:
    """The hats of a build whose grade `k` holds level `first + k - 1` (the grid of
    `N^level` cells a side: levels 1, 2, ... unless coarse levels vanish), or a number >
    cap as soon as that exceeds cap."""
    total = 0
    for level in range(first, first + grades):
        total += (ratio ** level + 1) ** dim
        if total > cap:
            return total
    return total


def check_construction(dim: int, grades: int, ratio: int, force: bool = False) -> None:
    """Refuse a build request past the budget (before the build starts)."""
    if force:
        return
    if grades > MAX_GRADES:
        raise UsageError(f"--grades={grades} is more than the budget of {MAX_GRADES} grades",
                         _FORCE)
    _refuse_past(dim, grades, ratio, construction_hats(dim, grades, ratio), grades, "")


def check_building(dim: int, grades: int, ratio: int, built: int, hats: int, level: int,
                   force: bool = False) -> None:
    """During a build of `grades` grades, once grade `built` (at level `level`) is built and
    the grades so far hold `hats` hats: refuse when the grades still to come, on the
    levels they will hold at least (`level + 1`, `level + 2`, ...), take the build past a
    budget. A target whose coarse levels vanish holds finer levels than
    `check_construction` assumed; this stops its build at the first grade that shows it,
    not after the last."""
    if force or built >= grades:
        return
    rest = construction_hats(dim, grades - built, ratio, MAX_HATS - hats, first=level + 1)
    last = level + grades - built
    _refuse_past(dim, grades, ratio, hats + rest, last,
                 f": grade {built} holds level {level} (levels whose coefficients vanish "
                 "are skipped)")


def _refuse_past(dim: int, grades: int, ratio: int, hats: int, last: int, why: str) -> None:
    """Refuse when `hats` (finest level `last`) is past the hat or memory budget."""
    request = f"--grades={grades} --ratio={ratio} in d={dim}"
    if hats > MAX_HATS:
        shown = f"{hats:,}" if hats < 10 ** 15 else "more than 10^15"
        raise UsageError(f"{request} may need {shown} hats (budget {MAX_HATS:,}){why}",
                         _FORCE)
    memory = construction_memory(dim, last, ratio, hats)
    if memory > MAX_MEMORY:
        raise UsageError(f"{request} may need about {_gib(memory)} of memory (budget "
                         f"{_gib(MAX_MEMORY)}){why}", _FORCE)


def construction_memory(dim: int, last: int, ratio: int, hats: int) -> int:
    """Estimated bytes of a build of `hats` hats whose finest level is `last` (its number
    of grades, when grade `k` holds level `k`) and of its check: `BYTES_PER_HAT` a hat and
    the float enclosures on the sub-boxes of the finest grid, `construction.
    default_subdivision` a cell side (smooth3d 6: 1.4 GB estimated, 0.69 GB peak measured;
    peaks2d 8, estimated from the levels its grades hold, `check_building`: 1.7 GB and
    0.57 GB)."""
    from .construction import default_subdivision
    sub_boxes = (default_subdivision(dim) * ratio ** last) ** dim
    return hats * BYTES_PER_HAT + sub_boxes * BYTES_PER_SUB_BOX


def check_network(network, force: bool = False) -> None:
    """Refuse a network past the budget (grades, layer width, neurons, weights, memory). A
    construction grade held as its hats (`HatGrade`: built here, or a saved construction
    read back) is counted as a build is, by its hats: its layers are never held."""
    if force:
        return
    from .engine.hat_grade import HatGrade
    grades = len(network.grades)
    if grades > MAX_GRADES:
        raise UsageError(f"the network has {grades} grades (budget {MAX_GRADES})", _FORCE)
    neurons = entries = hats = 0
    for k, grade in enumerate(network.grades, start=1):
        if isinstance(grade, HatGrade):
            hats += len(grade.hats)
            continue
        for width, inputs in grade.shapes():
            if width > MAX_WIDTH:
                raise UsageError(f"grade {k} has a layer of {width:,} neurons (budget "
                                 f"{MAX_WIDTH:,} per layer)", _FORCE)
            neurons += width
            entries += width * (inputs + 1)
    if neurons > MAX_NEURONS:
        raise UsageError(f"the network has {neurons:,} neurons (budget {MAX_NEURONS:,})", _FORCE)
    if hats > MAX_HATS or hats * BYTES_PER_HAT > MAX_MEMORY:
        raise UsageError(f"the network has {hats:,} hats (budget {MAX_HATS:,})", _FORCE)
    if entries > MAX_ENTRIES or entries * BYTES_PER_ENTRY > MAX_MEMORY:
        raise UsageError(f"the network has {entries:,} weights, about "
                         f"{_gib(entries * BYTES_PER_ENTRY)} to check (budget "
                         f"{MAX_ENTRIES:,} weights)", _FORCE)
