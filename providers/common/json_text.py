"""Reading JSON from the outside world: :func:`loads` is ``json.loads`` that also refuses what
no counterpart sends but an attacker might, with the same error, so every caller's existing
``except json.JSONDecodeError`` answers it as malformed input instead of a server error:

- nesting deeper than :data:`MAX_DEPTH` (``json`` itself would raise ``RecursionError`` at
  about a thousand levels, a 500);
- a NUL character in a string or key (PostgreSQL can store it neither in ``text`` nor in
  ``jsonb``: it would fail later, on one database only);
- a number that is not finite: ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, RFC 8259
  section 6, though Python's ``json`` reads them) and a literal too large for a float, such as
  ``1e999`` (read as infinity). Written back they are ``NaN``/``Infinity``, which
  PostgreSQL's ``json`` refuses: a 500 on PostgreSQL, a 201 on SQLite (review rv3).
"""

from __future__ import annotations

import json
import math
from typing import Any

#: No API body or provider message of ours nests deeper than a few levels.
MAX_DEPTH = 32


class _NotFinite(ValueError):
    pass


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NotFinite(f"the number {literal[:20]} is too large")
    return value


def _no_constant(name: str) -> Any:
    raise _NotFinite(f"{name} is not a JSON number")


#: ``json.loads`` with the two hooks above; one decoder, built once.
_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)


def loads(data: bytes | str) -> Any:
    """Parse ``data`` as JSON; raise :class:`json.JSONDecodeError` (or ``UnicodeDecodeError``
    for bytes that are not UTF-8) when it is not JSON we accept."""
    text = data.decode() if isinstance(data, bytes) else data
    try:
        value = _DECODER.decode(text)
    except _NotFinite as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from None
    except RecursionError:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", text, 0) from None
    _check(value, text)
    return value


def _check(value: Any, text: str) -> None:
    """Walk ``value`` without recursion: depth and NUL characters. Not needed when the text
    cannot hold either: a NUL in a parsed string comes only from a ``\\u0000`` escape (``json``
    refuses raw control characters), and no container is nested deeper than the number of
    ``{`` and ``[`` in the text (the walk costs more than the parse of a small body)."""
    if "\\u0000" not in text and text.count("{") + text.count("[") <= MAX_DEPTH:
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise json.JSONDecodeError("a string holds a NUL character", text, 0)
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth >= MAX_DEPTH:
            raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", text, 0)
        if isinstance(item, dict):
            stack.extend((key, depth + 1) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        else:
            stack.extend((child, depth + 1) for child in item)
