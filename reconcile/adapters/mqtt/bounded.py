"""JSON received from outside, parsed only after a cheap scan has bounded it.

`json.loads` recurses once per nesting level (2000 nested arrays in 4 KB raise RecursionError from
inside the parser), reads `1e999999` as inf and spends quadratic time on huge integers. So before
it runs, one linear pass over the text (strings skipped) counts the nesting depth and the length
of every number; the parse itself refuses NaN, Infinity and any number that is not finite. Every
refusal is a `ValueError` whose text never quotes the payload.
"""

import json
import math

MAX_NUMBER_CHARS = 40  # "-1.2345678901234567e+308" is 24; an integer id up to 2**63 is 19 digits
_NUMBER_CHARS = frozenset("0123456789+-.eE")
_OPENING, _CLOSING = frozenset("[{"), frozenset("]}")


class _Refused(ValueError):
    """A bound the payload broke (raised by the parse's hooks, passed through as it is)."""


def loads(text: str, *, max_depth: int, what: str = "the payload"):
    """The JSON value of `text`; ValueError (one line) if it nests deeper than `max_depth`, holds a
    number longer than MAX_NUMBER_CHARS or not finite, or is not JSON."""
    scan(text, max_depth=max_depth, what=what)
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_finite, parse_int=int)
    except _Refused as refused:
        raise ValueError(f"{what} {refused}") from None
    except (ValueError, RecursionError):  # RecursionError cannot happen after scan; kept as a second wall
        raise ValueError(f"{what} is not valid JSON") from None


def scan(text: str, *, max_depth: int, what: str = "the payload") -> None:
    """Refuse `text` if its [ and { (outside strings) nest deeper than `max_depth`, or a run of
    number characters outside strings is longer than MAX_NUMBER_CHARS. Linear, no parsing."""
    depth = run = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char in _NUMBER_CHARS:
            run += 1
            if run > MAX_NUMBER_CHARS:
                raise ValueError(f"{what} holds a number longer than {MAX_NUMBER_CHARS} characters")
            continue
        run = 0
        if char == '"':
            in_string = True
        elif char in _OPENING:
            depth += 1
            if depth > max_depth:
                raise ValueError(f"{what} nests deeper than {max_depth} levels")
        elif char in _CLOSING:
            depth -= 1


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("holds a number out of range")
    return value


def _constant(name: str):
    raise _Refused(f"holds {name}, which is not a number JSON allows")
