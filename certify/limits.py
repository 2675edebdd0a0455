"""Resource budgets: estimate a request's size before any work and refuse it past a budget.

A build of `n` grades with ratio `N` in dimension `d` has about `(N^k+1)^d` hats at grade
`k` (the nodes of level `k`; levels whose coefficients are all zero are skipped, so a target
whose coarse levels vanish gets finer grids, up to 4 levels, and the build itself stops at
`MAX_LEVEL_NODES` nodes a level);
a network read from a file is measured exactly. From these counts comes an estimate of
the memory a check needs: the network's sparse weights (`BYTES_PER_HAT`, measured at about
2 KB a hat) and the float enclosures on the sub-boxes of the finest grid
(`BYTES_PER_SUB_BOX`; 4 sub-boxes per cell side). Past a budget the command refuses with exit 2
and says which number is too large, unless `--force` is given. The budgets are documented
in docs/cli.md ("Limits").
"""

from __future__ import annotations

from .errors import UsageError

MAX_GRADES = 200                  # grades in one request or one network
MAX_HATS = 100_000                # hats over all grades of a build (worst case estimate)
MAX_WIDTH = 20_000                # neurons in one layer of a network file
MAX_NEURONS = 1_000_000           # neurons over the whole network
MAX_ENTRIES = 4_000_000           # weights and biases over the whole network
MAX_MEMORY = 2 * 1024 ** 3        # estimated bytes
BYTES_PER_ENTRY = 240             # a Fraction in a tuple, its float copy and checker state
BYTES_PER_HAT = 8 * 1024          # a hat's sparse weights and checker state (2 KB measured)
BYTES_PER_SUB_BOX = 256           # f data on one sub-box: ten float arrays and temporaries
MAX_FILE_BYTES = 32 * 1024 ** 2   # a network file
MAX_SAVED_BYTES = 256 * 1024 ** 2  # a network file certify build -o wrote (read as its hats)
MAX_NUMBER_CHARS = 1_000          # one number in a network file
MAX_NESTING = 64                  # JSON nesting depth of a network file

_FORCE = "pass --force to run anyway (see docs/cli.md, Limits)"


def _gib(n: float) -> str:
    return f"{n / 1024 ** 3:.1f} GiB"


def construction_hats(dim: int, grades: int, ratio: int, cap: int = MAX_HATS) -> int:
    """The hats of a build whose grade `k` holds level `k` (the grid of `N^k` cells a side:
    levels 1, 2, ... as for most targets; one whose coarse levels vanish starts finer), or
    a number > cap as soon as that exceeds cap."""
    total = 0
    for k in range(1, grades + 1):
        total += (ratio ** k + 1) ** dim
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
    hats = construction_hats(dim, grades, ratio)
    if hats > MAX_HATS:
        shown = f"{hats:,}" if hats < 10 ** 15 else "more than 10^15"
        raise UsageError(f"--grades={grades} --ratio={ratio} in d={dim} may need {shown} hats "
                         f"(budget {MAX_HATS:,})", _FORCE)
    memory = construction_memory(dim, grades, ratio, hats)
    if memory > MAX_MEMORY:
        raise UsageError(f"--grades={grades} --ratio={ratio} in d={dim} may need about "
                         f"{_gib(memory)} of memory (budget {_gib(MAX_MEMORY)})", _FORCE)


def construction_memory(dim: int, grades: int, ratio: int, hats: int) -> int:
    """Estimated bytes of a build and its check: sparse weights per hat, float enclosures
    on 4 sub-boxes a side of the finest grid (smooth3d 5: 0.88 GB estimated, 0.84 GB peak
    measured)."""
    sub_boxes = (4 * ratio ** grades) ** dim
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
