"""`json.loads` and `json.dumps(..., ensure_ascii=False)` without importing the `json` package.

`import json` imports `re` and compiles json's patterns (and `re` imports `enum` and builds
`RegexFlag`): a start-up cost that `netlab sockets --json` avoids, to stay under half of
`ss -tanp`'s time (bench/README.md, "Start-up"; bench/sockets_bench.py). The work itself is done in
C by `_json`, json's own accelerator; the package only wraps it. So `loads` and `dumps` call the
accelerator's scanner and encoder with the arguments the package passes them for those calls, and
give exactly what the package would.

Where the accelerator is missing (another Python implementation) or its signature differs, and
for text it cannot parse, the `json` package is used: its results and error messages are the
reference. (The accelerator reports parse errors through `json.decoder`, which it expects to be
imported, so malformed text always goes to the package.)
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_WHITESPACE = " \t\n\r"  # what JSON allows around a value (json.decoder.WHITESPACE)


class _DecoderSettings:
    """The attributes `_json.make_scanner` reads from a `json.JSONDecoder()` with default arguments."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


def _not_serializable(value: object) -> object:
    """`json.JSONEncoder.default`: what the encoder calls for a value it cannot encode."""
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _accelerator() -> tuple[Callable[[str, int], tuple[Any, int]], Callable[[object], list[str]]] | None:
    """The C scanner and a function returning the C encoder's chunks; None without `_json`."""
    try:
        from _json import encode_basestring, make_encoder, make_scanner

        scan = make_scanner(_DecoderSettings)  # type: ignore[arg-type]  # typeshed: a make_scanner; its attributes suffice
        # JSONEncoder(ensure_ascii=False).iterencode(value, _one_shot=True): markers for the
        # circular check, default, the string encoder, indent, separators, sort_keys, skipkeys, allow_nan
        make_encoder({}, _not_serializable, encode_basestring, None, ": ", ", ", False, False, True)
    except (ImportError, TypeError):
        return None

    def chunks(value: object) -> list[str]:
        encode = make_encoder({}, _not_serializable, encode_basestring, None, ": ", ", ", False, False, True)
        return encode(value, 0)  # type: ignore[no-any-return]

    return scan, chunks


_FAST = _accelerator()


def loads(text: str) -> Any:
    """`json.loads(text)`.

    Raises:
        ValueError: (json.JSONDecodeError) when `text` is not one JSON value.
    """
    if _FAST is not None:
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = _FAST[0](text, start)
        except (StopIteration, ValueError, SystemError):
            pass  # malformed: the package raises its own error, with line and column
        else:
            if end == len(text) or not text[end:].strip(_WHITESPACE):
                return value
    import json

    return json.loads(text)


def dumps(value: object) -> str:
    """`json.dumps(value, ensure_ascii=False)`.

    Raises:
        TypeError: a value JSON cannot hold. ValueError: a container that contains itself.
    """
    if _FAST is None:
        import json

        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        from _json import encode_basestring

        return encode_basestring(value)
    return "".join(_FAST[1](value))
