"""JSON from the outside world: what ``json`` accepts but we refuse, with ``json``'s own error."""

from __future__ import annotations

import json

import pytest

from providers.common import json_text


def test_ordinary_json_reads_as_json_does() -> None:
    body = '{"a": [1, {"b": "Lệ phí"}], "c": null, "d": [1.5, -0.0, 1e308, 2.5e-300, "NaN"]}'
    assert json_text.loads(body.encode()) == json.loads(body)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # json alone: RecursionError
        b"[" * (json_text.MAX_DEPTH + 1) + b"]" * (json_text.MAX_DEPTH + 1),
        b'{"a": "x\\u0000y"}',
        b'{"x\\u0000": 1}',
        b'[["\\u0000"]]',
        b'{"a": NaN}',
        b"[Infinity]",
        b"[-Infinity]",
        b"[1e999]",
        b"[-2.5e400]",
    ],
    ids=[
        "deep-100000",
        "one-too-deep",
        "nul-value",
        "nul-key",
        "nul-nested",
        "nan",
        "infinity",
        "-infinity",
        "1e999",
        "-2.5e400",
    ],
)
def test_deep_nesting_and_nul_characters_are_a_decode_error(body: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        json_text.loads(body)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    depth = json_text.MAX_DEPTH
    assert json_text.loads("[" * depth + "]" * depth) is not None


@pytest.mark.parametrize(
    "body",
    [
        "[" + ",".join(["{}"] * (3 * json_text.MAX_DEPTH)) + "]",  # many, side by side
        '{"text": "a backslash then u0000: \\\\u0000"}',  # no NUL character in it
    ],
    ids=["wide", "escaped-backslash"],
)
def test_wide_json_and_a_written_out_escape_are_accepted(body: str) -> None:
    assert json_text.loads(body) == json.loads(body)
