"""Sizes as users type them: ``64M``, ``64MiB``, ``64MB``, ``1.5G``, ``4096``.

Every command-line option that takes a size parses it here, with the rules of util-linux's
``strtosize`` (what ``zramctl --size`` accepts) — a superset of systemd's sizes and of the
kernel's ``memparse``:

* a non-negative number, with an optional fractional part (``1.5G``);
* an optional unit, case-insensitive: ``K``, ``M``, ``G``, ``T``, ``P``, ``E`` or the same
  with ``iB`` (``KiB``, ``MiB``, …) are powers of 1024; with ``B`` (``KB``, ``MB``, …) powers of
  1000 (so ``64M`` is 64 MiB and ``64MB`` is 64,000,000 bytes, as zramctl reads them); ``B`` or
  nothing is bytes.

Fractions of a byte are rounded down. Anything else, or a size of 2^63 bytes or more, is an
:class:`~pyzswap.errors.InvalidParameter` naming the option and the accepted forms.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

from .errors import InvalidParameter

__all__ = ["MAX_SIZE", "parse_size"]

#: Sizes must stay below this (a signed 64-bit byte count, as the kernel's interfaces take).
MAX_SIZE: Final = (1 << 63) - 1
_UNITS: Final = "KMGTPE"
_SIZE: Final = re.compile(r"(?P<num>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[KMGTPE]?)(?P<tail>I?B?)",
                          re.IGNORECASE)
_FORMS: Final = "a number with an optional unit: K, M, G, T, P, E (powers of 1024; also " \
                "KiB, MiB, …), KB, MB, … (powers of 1000), or B"


def parse_size(text: str, what: str = "size") -> int:
    """The byte count ``text`` means (see the module docstring); ``what`` names the option in
    errors, e.g. ``--ram``."""
    if not isinstance(text, str):
        raise InvalidParameter(f"{what}: expected a size, got {text!r}")
    m = _SIZE.fullmatch(text.strip())
    tail = m.group("tail").upper() if m else ""
    if m is None or (tail == "IB" and not m.group("unit")) or tail == "I":
        raise InvalidParameter(f"{what}: cannot parse {text!r} ({_FORMS})")
    try:
        number = Decimal(m.group("num"))
    except InvalidOperation:
        raise InvalidParameter(f"{what}: cannot parse {text!r} ({_FORMS})") from None
    unit = m.group("unit").upper()
    if unit:
        base = 1000 if tail == "B" else 1024
        number *= Decimal(base) ** (_UNITS.index(unit) + 1)
    if number > MAX_SIZE:
        raise InvalidParameter(f"{what}: {text!r} is too large (at most {MAX_SIZE:,} bytes)")
    return int(number)
