"""A construction's own network file, written from its hats and read back without parsing its
layers (`certify.engine.grade_text`): the text is the JSON encoder's, byte for byte; a file
is read so only when its text is exactly the text of the hats its meta proposes, and then
holds the same network as the general reader makes of it; any other file, a tampered one
above all, is read by the general reader."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from certify.construction import build
from certify.engine import grade_text, realize
from certify.engine.hat_grade import HatArray, HatGrade
from certify.engine.network import (_json_loads, network_from_json, network_text,
                                    network_to_json, read_network, write_network)
from certify.engine.numbers import format_rational
from certify.errors import NetworkError
from certify.limits import MAX_NESTING
from certify.engine.realize import Hat
from certify.target import load_target
from checker_helpers import example as example_path


def _text(w):
    return "0" if not w else format_rational(w)


def _layer_json(layer):
    return json.dumps({"weight": [[_text(w) for w in row] for row in layer.weight],
                       "bias": [_text(b) for b in layer.bias]}, separators=(",", ":"))


@st.composite
def _hats(draw):
    dim = draw(st.integers(1, 3))
    n = draw(st.sampled_from([4, 8, 16]))
    meshes = [Fraction(1, n), Fraction(1, 2 * n)]
    hats = []
    for _ in range(draw(st.integers(0, 7))):
        h = draw(st.sampled_from(meshes))
        z = tuple(Fraction(draw(st.integers(0, int(1 / h))), int(1 / h)) for _ in range(dim))
        c = Fraction(draw(st.integers(-300, 300)), draw(st.sampled_from([1, 3, 64, 2 ** 48])))
        hats.append(Hat(z, h, c))
    return dim, hats


@settings(max_examples=60, deadline=None)
@given(_hats())
@example((1, [Hat((Fraction(1, 2),), Fraction(1, 4), Fraction(1))] * 3))
@example((2, [Hat((Fraction(0), Fraction(1)), Fraction(1, 8), Fraction(-3, 64)),
              Hat((Fraction(1, 8), Fraction(1, 8)), Fraction(1, 16), Fraction(0)),
              Hat((Fraction(1), Fraction(0)), Fraction(1, 8), Fraction(5, 2)),
              Hat((Fraction(1, 2), Fraction(0)), Fraction(1, 16), Fraction(-7))]))
def test_layer_texts_of_hats_are_the_layers_json(case):
    dim, hats = case
    for inputs in (dim, dim + 2):
        want = [_layer_json(layer) for layer in realize.grade_layers(dim, hats, inputs)]
        assert ",".join(grade_text.layer_texts(dim, hats, inputs)) == ",".join(want)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.sampled_from([2, 4, 8]), st.integers(0, 50),
       st.lists(st.integers(-2 ** 70, 2 ** 70), min_size=9, max_size=9),
       st.lists(st.integers(0, 16), min_size=27, max_size=27))
@example(2, 4, 48, [3, -4, 2 ** 48, -(2 ** 49), 0, 1, -1, 5, 7], [0] * 27)
def test_layer_texts_of_a_hat_array_are_the_layers_json(dim, n, bits, units, coords):
    index = np.array([[c % (n + 1) for c in coords[3 * i:3 * i + dim]] for i in range(9)])
    array = HatArray(index, np.array(units, dtype=object), bits, Fraction(1, n))
    for inputs in (dim, dim + 2):
        want = [_layer_json(layer) for layer in realize.grade_layers(dim, list(array), inputs)]
        assert ",".join(grade_text.layer_texts(dim, array, inputs)) == ",".join(want)


CASES = [("sine", 4, "surplus"), ("peaks2d", 3, "surplus"), ("peaks2d", 2, "balanced"),
         ("smooth3d", 2, "surplus")]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def saved(request, tmp_path_factory):
    name, grades, scheme = request.param
    network = build(load_target(example_path(name)), grades, scheme=scheme)
    path = tmp_path_factory.mktemp("saved") / f"{name}.json"
    write_network(network, str(path))
    return network, path


def _general(text):
    """What the general reader makes of a text (no fast path)."""
    return network_from_json(_json_loads(text))


def _same_weights(a, b):
    assert a.dim == b.dim and len(a.grades) == len(b.grades)
    for g, h in zip(a.grades, b.grades):
        assert list(g.layers) == list(h.layers)
        assert tuple(g.readout_weight) == tuple(h.readout_weight)
        assert g.readout_bias == h.readout_bias


def test_written_text_is_the_json_encoders(saved):
    network, path = saved
    assert path.read_text() == json.dumps(network_to_json(network), separators=(",", ":"))


def test_own_file_is_read_as_hats_with_the_general_readers_weights(saved):
    network, path = saved
    read = read_network(str(path))
    assert all(isinstance(g, HatGrade) for g in read.grades)
    general = _general(path.read_text())
    assert not any(isinstance(g, HatGrade) for g in general.grades)
    _same_weights(read, general)
    _same_weights(read, network)
    assert read.meta == general.meta
    assert network_text(read) == path.read_text()


def _layer_coefficient_edit(text):
    """The text with one accumulator coefficient of the last grade's layers doubled,
    meta untouched: the weights say one thing, meta another."""
    data = json.loads(text)
    layers = data["grades"][-1]["layers"]
    for layer in layers[1:]:
        for row in layer["weight"]:
            for j, w in enumerate(row):
                if w not in ("0", "1", "-1"):
                    row[j] = format_rational(2 * Fraction(w))
                    return json.dumps(data, separators=(",", ":")), Fraction(w)
    raise AssertionError("no coefficient found")


def _meta_coefficient_edit(text):
    data = json.loads(text)
    hat = data["meta"]["levels"][-1]["hats"][-1]
    hat["c"] = format_rational(Fraction(hat["c"]) + Fraction(1, 2 ** 40))
    return json.dumps(data, separators=(",", ":"))


def _meta_node_edit(text):
    data = json.loads(text)
    hat = data["meta"]["levels"][-1]["hats"][0]
    hat["node"] = list(reversed(hat["node"])) if len(set(hat["node"])) > 1 else \
        [format_rational(Fraction(v) + data_mesh(data)) for v in hat["node"]]
    return json.dumps(data, separators=(",", ":"))


def data_mesh(data):
    return Fraction(data["meta"]["levels"][-1]["mesh"])


def _meta_needle(text):
    data = json.loads(text)
    data["meta"]["target"] = 'a name with ],"meta": inside'
    return json.dumps(data, separators=(",", ":"))


def _dropped_level(text):
    data = json.loads(text)
    data["meta"]["levels"] = data["meta"]["levels"][:-1]
    return json.dumps(data, separators=(",", ":"))


@pytest.mark.parametrize("edit", [
    lambda t: _layer_coefficient_edit(t)[0], _meta_coefficient_edit, _meta_node_edit,
    _dropped_level, lambda t: json.dumps(json.loads(t), indent=1),
    lambda t: t + "\n", lambda t: t.replace('{"layers":[', '{"layers": [', 1)],
    ids=["layer-c", "meta-c", "meta-node", "meta-level", "indented", "newline", "space"])
def test_any_other_text_is_read_by_the_general_reader(saved, tmp_path, edit):
    network, path = saved
    text = edit(path.read_text())
    other = tmp_path / "other.json"
    other.write_text(text)
    read = read_network(str(other))
    general = _general(text)
    _same_weights(read, general)
    assert read.meta == general.meta
    if text.startswith('{"format"') and '],"meta":' in text:
        assert grade_text.read_saved(text, _json_loads) is None


def test_a_meta_text_holding_the_split_is_still_read_exactly(saved, tmp_path):
    network, path = saved
    text = _meta_needle(path.read_text())
    other = tmp_path / "needle.json"
    other.write_text(text)
    read = read_network(str(other))
    _same_weights(read, network)
    assert read.meta["target"] == 'a name with ],"meta": inside'


def test_weights_edited_in_the_file_are_the_weights_read(saved, tmp_path):
    """A coefficient doubled in the layers, meta unchanged: the network read carries the
    doubled coefficient (the weights, never meta), so the checker sees the edit."""
    network, path = saved
    text, old = _layer_coefficient_edit(path.read_text())
    other = tmp_path / "edited.json"
    other.write_text(text)
    read = read_network(str(other))
    last = read.grades[-1]
    assert not isinstance(last, HatGrade)
    values = {w for layer in last.layers[1:] for row in layer.weight for w in row}
    assert 2 * old in values
    assert list(last.layers) != list(network.grades[-1].layers)


def test_tampered_meta_numbers_do_not_crash_the_fast_path(saved):
    network, path = saved
    data = json.loads(path.read_text())
    for bad in ("x", "1/0", "1" * 200, "-1/3", None, 5, [1]):
        data["meta"]["levels"][0]["hats"][0]["c"] = bad
        text = json.dumps(data, separators=(",", ":"))
        assert grade_text.read_saved(text, _json_loads) is None
    data = json.loads(path.read_text())
    data["meta"]["levels"][0]["mesh"] = "0"
    assert grade_text.read_saved(json.dumps(data, separators=(",", ":")), _json_loads) is None


def _nested(depth):
    value = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_meta_nested_past_the_budget_is_refused_as_by_the_general_reader(saved, tmp_path):
    network, path = saved
    data = json.loads(path.read_text())
    data["meta"]["deep"] = _nested(MAX_NESTING)      # 1 + 1 + MAX_NESTING deep in all
    deep = tmp_path / "deep.json"
    deep.write_text(json.dumps(data, separators=(",", ":")))
    with pytest.raises(NetworkError, match="nested more than"):
        read_network(str(deep))
    data["meta"]["deep"] = _nested(MAX_NESTING - 2)  # exactly MAX_NESTING deep: allowed
    deep.write_text(json.dumps(data, separators=(",", ":")))
    read = read_network(str(deep))
    assert all(isinstance(g, HatGrade) for g in read.grades)
    _same_weights(read, network)


def test_a_saved_construction_past_the_file_budget_is_read_an_edited_one_refused(
        saved, tmp_path, monkeypatch):
    """The general reader's file budget does not apply to a file read as its hats (up to
    MAX_SAVED_BYTES); the same file edited is refused past it, as before."""
    from certify.engine import network as network_module
    network, path = saved
    monkeypatch.setattr(network_module, "MAX_FILE_BYTES", 1000)
    read = read_network(str(path))
    _same_weights(read, network)
    edited = tmp_path / "edited.json"
    edited.write_text(_layer_coefficient_edit(path.read_text())[0])
    with pytest.raises(NetworkError, match="budget 1,000"):
        read_network(str(edited))
    assert read_network(str(edited), force=True).dim == network.dim
    monkeypatch.setattr(network_module, "MAX_SAVED_BYTES", 1000)
    with pytest.raises(NetworkError, match="budget 1,000"):
        read_network(str(path))


def test_a_large_file_that_does_not_begin_as_saved_ones_is_refused_unread(
        saved, tmp_path, monkeypatch):
    """Past the general budget a file is read whole only when its first bytes are those
    `build -o` writes: the same network reindented is refused from its head, and reading
    it whole is never asked for."""
    import builtins
    from certify.engine import network as network_module
    network, path = saved
    monkeypatch.setattr(network_module, "MAX_FILE_BYTES", 1000)
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(json.loads(path.read_text()), indent=1))
    reads = []
    real_open = builtins.open

    def counting_open(*args, **kwargs):
        handle = real_open(*args, **kwargs)
        read = handle.read
        handle.read = lambda size=-1: reads.append(size) or read(size)
        return handle
    monkeypatch.setattr(builtins, "open", counting_open)
    with pytest.raises(NetworkError, match="budget 1,000"):
        read_network(str(pretty))
    assert reads and all(size >= 0 for size in reads)          # the head only
    monkeypatch.setattr(builtins, "open", real_open)
    assert read_network(str(pretty), force=True).dim == network.dim


def test_a_saved_construction_is_budgeted_by_its_hats(saved, monkeypatch):
    from certify import limits
    from certify.errors import UsageError
    network, path = saved
    read = read_network(str(path))
    hats = sum(len(g.hats) for g in read.grades)
    monkeypatch.setattr(limits, "MAX_NEURONS", 1)      # its layers are never counted
    monkeypatch.setattr(limits, "MAX_ENTRIES", 1)
    limits.check_network(read)
    monkeypatch.setattr(limits, "MAX_HATS", hats - 1)
    with pytest.raises(UsageError, match=f"{hats:,} hats"):
        limits.check_network(read)
    limits.check_network(read, force=True)


def _tripled_first_coefficient(text):
    """The text with the last grade's first accumulator coefficient tripled in its layers,
    meta untouched."""
    data = json.loads(text)
    for layer in data["grades"][-1]["layers"][1:]:
        for row in layer["weight"]:
            for j, w in enumerate(row):
                if w not in ("0", "1", "-1"):
                    row[j] = format_rational(3 * Fraction(w))
                    return json.dumps(data, separators=(",", ":"))
    raise AssertionError("no coefficient found")


def test_build_then_check_and_a_file_edited_on_purpose_is_refuted(tmp_path, capsys):
    """`build -o` then `check --network`: proved; the same file with one coefficient tripled
    in its layers (meta still listing the old one) is refuted, from the weights."""
    from certify.interfaces.cli import run
    net, bad = tmp_path / "net.json", tmp_path / "bad.json"
    assert run(["build", "--target", example_path("sine"), "--grades", "4", "-o",
                str(net)]) == 0
    assert run(["check", "--target", example_path("sine"), "--network", str(net),
                "--quiet"]) == 0
    bad.write_text(_tripled_first_coefficient(net.read_text()))
    assert run(["check", "--target", example_path("sine"), "--network", str(bad),
                "--quiet"]) == 1
    assert "verdict: refuted" in capsys.readouterr().out


_SMALL: dict = {}


def _small_text() -> str:
    if "text" not in _SMALL:
        from certify.engine.network import network_text
        _SMALL["text"] = network_text(build(load_target(example_path("peaks2d")), 2))
    return _SMALL["text"]


@settings(max_examples=300, deadline=None)
@given(st.data())
@example(None)
def test_a_text_mutated_anywhere_is_read_as_the_general_reader_reads_it(data):
    """One character of a saved construction's text replaced, inserted or deleted: the
    fast path either declines, or gives the network the general reader gives (never one
    the general reader refuses or reads otherwise)."""
    from certify.engine.network import _meta_value
    text = _small_text()
    if data is None:
        mutated = text
    else:
        at = data.draw(st.integers(0, len(text) - 1))
        char = data.draw(st.sampled_from(list('0123456789/-,"[]{}: .e')))
        how = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        mutated = text[:at] + ("" if how == "delete" else char) \
            + text[at + (how != "insert"):]
    fast = grade_text.read_saved(mutated, _meta_value)
    if fast is None:
        return
    general = network_from_json(_json_loads(mutated))      # must not raise
    _same_weights(fast, general)
    assert fast.meta == general.meta
    if mutated != text:
        assert mutated[mutated.rfind('],"meta":'):] != text[text.rfind('],"meta":'):]


def test_a_meta_past_the_general_budget_is_not_parsed_by_the_fast_reader(saved, monkeypatch):
    """The fast reader parses only `meta` as JSON, and only within the general reader's
    file budget (a large file with a huge `meta` is the general reader's to refuse)."""
    from certify.engine import grade_text as module
    from certify.engine.network import _meta_value
    network, path = saved
    text = path.read_text()
    meta_size = len(text) - text.rfind('],"meta":')
    monkeypatch.setattr(module, "MAX_FILE_BYTES", meta_size - 1)
    assert module.read_saved(text, _meta_value) is None
    assert module.read_saved(text, _meta_value, force=True) is not None
    monkeypatch.setattr(module, "MAX_FILE_BYTES", meta_size)
    assert module.read_saved(text, _meta_value) is not None
