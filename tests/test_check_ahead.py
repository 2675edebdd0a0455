"""`check --grades N --jobs 2`: grades 1..N-1 checked in a forked worker while grade N is
built (`check_ahead`) give the report of a check in one process; a worker's result that
does not answer the same questions is not used; a worker that dies is an internal error;
1-D runs fork nothing (`work_units.forks_pay`)."""

from __future__ import annotations

import json
import os
import signal

from certify.certificates import check_ahead, checker
from certify.engine import vectorised, work_units
from certify.interfaces.cli import run
from checker_helpers import example


def _strip(o):
    if isinstance(o, dict):
        return {k: _strip(v) for k, v in o.items() if "seconds" not in k and "time" not in k}
    if isinstance(o, list):
        return [_strip(v) for v in o]
    return o


def _check(tmp_path, name, jobs, grades="4", target="peaks2d"):
    vectorised.clear_cache()
    path = tmp_path / f"{name}.json"
    status = run(["check", "--target", example(target), "--grades", grades, "--jobs",
                  str(jobs), "--quiet", "--report", str(path)])
    return status, (_strip(json.loads(path.read_text())) if path.exists() else None)


def test_grades_checked_ahead_give_the_serial_report(monkeypatch, tmp_path):
    monkeypatch.setattr(checker, "GRID_SAMPLE_NODES", 4)     # the same samples for all
    serial = _check(tmp_path, "serial", 1)
    monkeypatch.setattr(check_ahead, "AHEAD_CELLS", 4)
    taken, original = [], check_ahead.Earlier.taken
    monkeypatch.setattr(check_ahead.Earlier, "taken",
                        lambda self, state: taken.append(original(self, state)) or taken[-1])
    ahead = _check(tmp_path, "ahead", 2)
    assert serial[0] == 0 and ahead == serial
    assert len(taken) == 1 and taken[0] is not None and len(taken[0]) == 3   # grades 1..3


def test_a_result_for_other_questions_is_checked_again_here(monkeypatch, tmp_path):
    monkeypatch.setattr(checker, "GRID_SAMPLE_NODES", 4)
    serial = _check(tmp_path, "serial", 1)
    monkeypatch.setattr(check_ahead, "AHEAD_CELLS", 4)
    # the worker's samples are not the whole network's: its grades are checked here again
    original = check_ahead.Earlier.taken

    def other_points(self, state):
        found = self.worker.result()
        options, points, plan, data = found
        self.worker.result = lambda: (options, points[:-1], plan, data)
        return original(self, state)
    used = []
    monkeypatch.setattr(check_ahead.Earlier, "taken",
                        lambda self, state: used.append(other_points(self, state)) or used[-1])
    again = _check(tmp_path, "again", 2)
    assert used == [None] and again == serial


def test_a_worker_that_dies_while_checking_ahead_is_an_internal_error(monkeypatch, tmp_path,
                                                                      capsys):
    monkeypatch.setattr(checker, "GRID_SAMPLE_NODES", 4)
    monkeypatch.setattr(check_ahead, "AHEAD_CELLS", 4)
    parent, original = os.getpid(), checker.check_one

    def dies(k, state=None):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(k, state)
    monkeypatch.setattr(checker, "check_one", dies)
    status, report = _check(tmp_path, "dies", 2)
    assert status == 4 and report is None
    assert "internal error: WorkerError" in capsys.readouterr().err


def test_one_dimensional_runs_fork_nothing(monkeypatch, tmp_path):
    for module, name in [(check_ahead, "AHEAD_CELLS"), (checker, "APART_CELLS"),
                         (checker, "GRID_SAMPLE_NODES")]:
        monkeypatch.setattr(module, name, 4)
    forks = []
    original = work_units.Ahead.__init__
    monkeypatch.setattr(work_units.Ahead, "__init__",
                        lambda self, task: forks.append(1) or original(self, task))
    status, _ = _check(tmp_path, "sine", 2, grades="6", target="sine")
    assert status == 0 and not forks
    assert not work_units.forks_pay(1) and work_units.forks_pay(2)
