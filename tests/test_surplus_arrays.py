"""The surplus scheme's whole-array steps equal their node-by-node definitions.

`surplus._starts` (the starting coefficients and goals of a level) and
`surplus.surplus_units` work on flat arrays; `surplus._start` and
`surplus._surplus_units_scalar` are the node-by-node rules they must reproduce exactly,
including numbers past int64 (object arrays) and the second-order margins."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings, strategies as st

from certify import surplus

UNITS = st.one_of(st.integers(-2 ** 20, 2 ** 20), st.integers(-2 ** 53, 2 ** 53),
                  st.integers(-2 ** 70, 2 ** 70), st.just(0),
                  st.sampled_from([2 ** 52 - 1, 2 ** 52, -(2 ** 52), 2 ** 62, -(2 ** 63)]))
MARGINS = st.one_of(st.just(0.0), st.just(math.inf), st.just(math.nan),
                    st.floats(0, 1e-3), st.floats(0, 1e20),
                    st.sampled_from([2.0 ** -48, 3 * 2.0 ** -49, 2.0 ** 4]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(UNITS, UNITS, MARGINS), min_size=1, max_size=20), st.booleans())
def test_starts_equal_the_node_rule(rows, with_margin):
    r = surplus.int_array([a for a, _, _ in rows])
    b = surplus.int_array([x for _, x, _ in rows])
    margin = np.array([m for _, _, m in rows]) if with_margin else None
    c, goal = surplus._starts(r, b, margin, 48)
    want = [surplus._start(int(a), int(x), m if with_margin else None, 2.0 ** 48)
            for a, x, m in rows]
    assert c.tolist() == [w[0] for w in want]
    assert goal.tolist() == [w[1] for w in want]
    assert c.dtype == np.int64 or max(abs(v) for v in c.tolist()) > surplus.LIMIT


ENDS = st.one_of(st.floats(-1e3, 1e3), st.floats(-2.0 ** -40, 2.0 ** -40),
                 st.sampled_from([0.0, math.inf, -math.inf, math.nan, 2.0 ** 20, 2.0 ** 70]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(ENDS, st.floats(0, 1e-12)), min_size=1, max_size=16),
       st.booleans())
def test_surplus_units_equal_the_node_rule(rows, with_refine):
    lo = np.array([a for a, _ in rows])
    hi = np.array([a + w if math.isfinite(a) else a for a, w in rows])

    def refine(node):
        return 7 * node[0] - 3
    shape = (len(rows),)
    ask = refine if with_refine else None
    try:
        want = surplus._surplus_units_scalar([(i,) for i in range(len(rows))], lo.tolist(),
                                             hi.tolist(), 48, ask)
    except (ValueError, OverflowError):
        return                      # inf/nan ends: the rational path raises, as before
    assert surplus.surplus_units((lo, hi), shape, 48, ask).tolist() == want
