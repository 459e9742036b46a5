"""`netlab.jsontext` gives exactly what `json.loads` and `json.dumps(..., ensure_ascii=False)` give."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netlab import jsontext

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(), st.sampled_from([1e300, -0.0])
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children), st.dictionaries(st.text(), children)),
    max_leaves=30,
)


def test_the_c_accelerator_is_used_here() -> None:
    assert jsontext._FAST is not None


@given(documents)
def test_dumps_is_json_dumps(document: object) -> None:
    assert jsontext.dumps(document) == json.dumps(document, ensure_ascii=False)


@given(documents, st.sampled_from(["", " ", "\n", " \t\r\n"]))
def test_loads_is_json_loads(document: object, padding: str) -> None:
    text = padding + json.dumps(document, ensure_ascii=bool(len(padding) % 2)) + padding
    assert jsontext.loads(text) == json.loads(text)


def test_non_finite_numbers_both_ways() -> None:
    text = jsontext.dumps([math.inf, -math.inf, math.nan, {"k": 1.5}])
    assert text == '[Infinity, -Infinity, NaN, {"k": 1.5}]'
    decoded = jsontext.loads(text)
    assert decoded[:2] == [math.inf, -math.inf] and math.isnan(decoded[2])


@pytest.mark.parametrize("bad", ["", "   ", '{"a": 1,}', "[1 2]", '"abc', '{"a" 1}', "1 2", "\ufeff{}", "nul"])
def test_malformed_text_raises_what_json_raises(bad: str) -> None:
    with pytest.raises(json.JSONDecodeError) as ours:
        jsontext.loads(bad)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(bad)
    assert str(ours.value) == str(theirs.value)


def test_unencodable_values_raise_what_json_raises() -> None:
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        jsontext.dumps({"a": {1}})
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        jsontext.dumps(looped)
    assert jsontext.dumps({"a": [1]}) == '{"a": [1]}'  # no marker left behind by the failed call


def test_no_json_package_for_well_formed_text() -> None:
    code = (
        "import sys\n"
        "from netlab import jsontext\n"
        "jsontext.dumps(jsontext.loads('{\"a\": [1, 2.5, null, \"\\u00e9\"]}'))\n"
        "print(sorted(m for m in ('json', 're') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
