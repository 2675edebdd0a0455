"""Progress lines on stderr for every slow phase: build, sampling, each grade.

A `Progress` prints one flushed line per event, with an ETA from measured cost (the last
grade's seconds per layer, times the layers still to do); `quiet` silences it. Library code
announces phases with `announce(text)`, which prints only inside `Progress.phases()` (so
the library stays silent when used from Python).
"""

from __future__ import annotations

import contextlib
import sys
import time

from ..engine.numbers import decimal_bound

_SINK = None          # the active Progress, set by Progress.phases()


def announce(text: str) -> None:
    """Report the start of a slow phase (printed only while a Progress is active)."""
    if _SINK is not None:
        _SINK.phase(text)


#: the seconds of a build level or a checked grade from which an ETA is printed after it
ETA_AFTER = 0.1


def all_checked() -> None:
    """Tell the active Progress that every grade is checked already (checked ahead, or side
    by side in forked workers): the grades reported from now on take no more time, so their
    lines carry no ETA."""
    if _SINK is not None:
        _SINK.checked_all = True


def _duration(seconds: float) -> str:
    if seconds < 10:                # (an ETA of 0.4 s is not "0s")
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Flushed progress lines on stderr (none when `quiet`)."""

    def __init__(self, quiet: bool = False, stream=None):
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.phase_start = self.start
        self.checked_all = False        # (`all_checked`)

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def phase(self, text: str) -> None:
        self.phase_start = time.monotonic()
        self.say(f"certify: {text} ({_duration(self.phase_start - self.start)} elapsed)")

    @contextlib.contextmanager
    def phases(self):
        """Let library code `announce` its phases through this Progress."""
        global _SINK
        previous, _SINK = _SINK, self
        try:
            yield self
        finally:
            _SINK = previous

    def build_level(self, total: int, growth: float | None = None):
        """The callback of `construction.build_levels`: one line per level, with an ETA
        from the last level's time scaled by the growth of the grid (at most `growth`, the
        factor `N^d` by which a level's nodes multiply), once a level takes `ETA_AFTER`
        seconds (the time of a smaller one is mostly fixed costs, which do not grow with
        the grid: peaks2d `--grades 8` read 'ETA ~45s' after grade 3, and took 5 s)."""
        self.say(f"certify: building {total} grades")
        last = {"t": time.monotonic()}

        def on_level(record):
            now = time.monotonic()
            k = getattr(record, "grade", 0) or record.level + 1     # grade, not level
            hats = len(record.hats)
            eta = ""
            if k < total and record.seconds >= ETA_AFTER:
                grow = max(1.0, float(last.get("hats") and hats / last["hats"] or 1.0))
                if growth is not None:
                    grow = min(grow, growth)
                step = record.seconds
                remaining = sum(step * grow ** i for i in range(1, total - k + 1))
                eta = f"  ETA of the build ~{_duration(remaining)}"
            last.update(t=now, hats=max(hats, 1))
            self.say(f"built grade {k:3d}/{total}  mesh {record.mesh}  hats {hats:6d}  "
                     f"oscillation {decimal_bound(record.oscillation, 'up', 3)}  "
                     f"{record.seconds:.2f}s{eta}")
        return on_level

    def grade_done(self, result, total: int, costs: list[int] | None = None) -> None:
        """After grade `result.grade` of `total`: elapsed time and ETA from this grade's
        seconds per layer (`costs[k-1]` = layers of grade k), once a grade takes
        `ETA_AFTER` seconds (the small grades' time is mostly fixed costs, whose rate
        promised peaks2d `--grades 8` '~27 min' after grade 1 for a 1 s check)."""
        k = result.grade
        if k >= total:
            return
        eta = ""
        if costs and not self.checked_all and result.seconds >= ETA_AFTER:
            rate = result.seconds / max(1, costs[k - 1])
            eta = f", ETA ~{_duration(rate * sum(costs[k:]))}"
        self.say(f"certify: grade {k}/{total} done in {result.seconds:.2f}s{eta}")
