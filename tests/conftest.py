"""Session-wide record of every counterexample the checker reports in the tests.

`tests/test_reports.py` re-reads them all, from their report fields alone, with plain
`fractions` code: each must show its violation (|e_new| > |e_prev| for (G1)).
"""

from __future__ import annotations

import pytest

import certify.certificates.checker as _checker

#: the JSON of every counterexample reported during this test session
WITNESSES: list[dict] = []

_finish = _checker._finish


def _recording_finish(report, data, *args, **kwargs):
    result = data.result
    for witness in (result.counterexample, result.no_overshoot_counterexample):
        if witness is not None:
            WITNESSES.append(witness.to_json())
    return _finish(report, data, *args, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def _record_witnesses():
    _checker._finish = _recording_finish
    yield
    _checker._finish = _finish
