"""`read_network`'s fast path for plain numbers (`_plain_rational`) reads exactly what the
general path (`_rational`) reads, and leaves everything else to it (errors included)."""

from __future__ import annotations

from hypothesis import example, given, settings, strategies as st

from certify.engine.network import _plain_rational, _rational
from certify.errors import NetworkError

plain = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-10 ** 310, 10 ** 310),
    st.builds(lambda p, q: f"{p}/{q}", st.integers(-10 ** 90, 10 ** 90), st.integers(0, 10 ** 90)),
    st.integers(-10 ** 90, 10 ** 90).map(str),
    st.text("0123456789/-+. e", max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(plain)
@example("1/0")
@example("-0")
@example("007/0008")
@example(1e300)
@example(True)
def test_plain_numbers_read_as_the_general_path_reads_them(value):
    fast = _plain_rational(value)
    try:
        slow = _rational(value, "w")
    except NetworkError:
        assert fast is None
        return
    assert fast is None or fast == slow
