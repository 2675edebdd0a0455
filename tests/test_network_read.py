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


def _document(*layers, dim=2):
    """An `mgdl-relu/1` document of one grade with these layers (weight rows, bias)."""
    width = len(layers[-1][1])
    return {"format": "mgdl-relu/1", "dim": dim,
            "grades": [{"layers": [{"weight": w, "bias": b} for w, b in layers],
                        "readout": {"weight": ["1"] * width, "bias": "0"}}]}


def test_repeated_rows_of_strings_are_read_once_and_checked_every_time():
    from fractions import Fraction

    import pytest

    from certify.engine.network import network_from_json
    from certify.engine.realize import ONE, ZERO
    net = network_from_json(_document(([["1", "-1/2"], ["1", "-1/2"]], ["0", "1"]),
                                      ([["1", "-1/2"], ["0", "1"]], ["0", "0"])))
    first, second = net.grades[0].layers
    assert first.weight[0] is first.weight[1] is second.weight[0]      # one tuple, shared
    assert first.weight[0] == (ONE, Fraction(-1, 2)) and first.weight[0][0] is ONE
    assert second.weight[1] == (ZERO, ONE) and second.bias == (ZERO, ZERO)
    # a repeated row must still have the length of its layer's inputs
    with pytest.raises(NetworkError, match=r"layer 2, weight\[0\]: expected 3 entries"):
        network_from_json(_document(([["1", "0"]] * 3, ["0"] * 3), ([["1", "0"]], ["0"])))
    # rows of JSON numbers are read every time: `true` equals 1 in Python, never a weight
    with pytest.raises(NetworkError, match="layer 2"):
        network_from_json(_document(([[1, 0], [0, 1]], ["0", "0"]), ([[True, 0]], ["0"])))
