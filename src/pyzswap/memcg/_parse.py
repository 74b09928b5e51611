"""cgroupfs values, parsed as the kernel parses them: ``memparse``, ``page_counter_memparse``,
``kstrtoint`` and a group name."""

from __future__ import annotations

from string import hexdigits
from typing import Final

from ..errors import InvalidParameter
from ..folio import PAGE_SIZE

#: ``LONG_MAX / PAGE_SIZE``: the page counters' "max".
PAGE_COUNTER_MAX: Final = ((1 << 63) - 1) // PAGE_SIZE
_SUFFIX_SHIFT: Final = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}


def _parse_uint(text: str, what: str) -> tuple[int, str]:
    """``simple_strtoull(text, &end, 0)``: the value and the unparsed rest (≥ 1 digit)."""
    if len(text) >= 3 and text[0] == "0" and text[1] in "xX" and text[2] in hexdigits:
        base, start, digits = 16, 2, hexdigits
    elif text.startswith("0"):
        base, start, digits = 8, 0, "01234567"
    else:
        base, start, digits = 10, 0, "0123456789"
    end = start
    while end < len(text) and text[end] in digits:
        end += 1
    if end == start:
        raise InvalidParameter(f"{what}: expected a number, got {text!r}")
    return int(text[start:end], base), text[end:]


def memparse(text: str, what: str = "value") -> int:
    """The kernel's ``memparse``: a number with an optional K/M/G/T/P/E suffix, in bytes."""
    value, rest = _parse_uint(text, what)
    if rest:
        shift = _SUFFIX_SHIFT.get(rest[0].lower())
        if shift is not None:
            value <<= shift
            rest = rest[1:]
    if rest:
        raise InvalidParameter(f"{what}: cannot parse {text!r} (a number with an optional "
                               "K/M/G/T/P/E suffix, or 'max')")
    return value


def page_counter_memparse(value: object, what: str = "value") -> int:
    """``page_counter_memparse(buf, "max", &pages)``: "max" → :data:`PAGE_COUNTER_MAX`, else
    bytes rounded down to pages (capped at the max). Also takes an int of bytes or None."""
    if value is None:
        return PAGE_COUNTER_MAX
    if type(value) is int:
        if value < 0:
            raise InvalidParameter(f"{what}: {value} is negative")
        return min(value // PAGE_SIZE, PAGE_COUNTER_MAX)
    if not isinstance(value, str):
        raise InvalidParameter(f"{what}: expected bytes (int or string) or 'max', got "
                               f"{value!r}")
    text = value.strip()
    if text == "max":
        return PAGE_COUNTER_MAX
    return min(memparse(text, what) // PAGE_SIZE, PAGE_COUNTER_MAX)


def kstrtoint(value: object, what: str) -> int:
    """``kstrtoint(strstrip(buf), 0, &v)``: a signed 32-bit integer, C base prefixes."""
    if type(value) is bool:
        return int(value)
    if type(value) is int:
        number = value
    elif isinstance(value, str):
        text = value.strip()
        sign = 1
        if text[:1] in ("+", "-"):
            sign = -1 if text[0] == "-" else 1
            text = text[1:]
        number, rest = _parse_uint(text, what)
        if rest:
            raise InvalidParameter(f"{what}: expected an integer, got {value!r}")
        number *= sign
    else:
        raise InvalidParameter(f"{what}: expected an integer, got {value!r}")
    if not -(1 << 31) <= number < 1 << 31:
        raise InvalidParameter(f"{what}: {number} is out of range")
    return number


def check_name(name: object) -> str:
    """A group name mkdir takes: not empty, not ``.``/``..``, no ``/``, NUL or newline."""
    if (not isinstance(name, str) or not name or name in (".", "..")
            or any(c in name for c in "/\0\n")):
        raise InvalidParameter(f"invalid cgroup name {name!r}")
    return name

