"""Sizes as users type them (``pyzswap.units.parse_size``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyzswap.errors import InvalidParameter
from pyzswap.units import MAX_SIZE, parse_size

M = 1 << 20


@pytest.mark.parametrize(("text", "expected"), [
    ("4096", 4096), ("0", 0), ("64M", 64 * M), ("64m", 64 * M), ("64MiB", 64 * M),
    ("64mib", 64 * M), ("64MB", 64_000_000), ("64 M", 64 * M), ("1.5G", 3 * (1 << 29)),
    ("1.5GiB", 3 * (1 << 29)), ("0.5K", 512), (".5K", 512), ("2T", 2 << 40), ("1E", 1 << 60),
    ("10B", 10), ("1KB", 1000), ("1.0001K", 1024), (" 8K ", 8192), ("24683772K", 24683772 << 10),
])
def test_accepted(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", [
    "", "M", "-1", "1e3", "nan", "inf", "1.2.3", "64X", "64MiBB", "64iB", "1Mi", "10^23G", "0x10",
    "1 G B", "8E", "16E",
])
def test_refused_with_the_option_named(text: str) -> None:
    with pytest.raises(InvalidParameter, match="--ram"):
        parse_size(text, "--ram")


def test_not_a_string() -> None:
    with pytest.raises(InvalidParameter):
        parse_size(123, "--ram")  # type: ignore[arg-type]


@given(st.integers(0, MAX_SIZE))
def test_plain_byte_counts_round_trip(n: int) -> None:
    assert parse_size(str(n)) == n
    assert parse_size(f"{n}B") == n


@given(st.integers(0, 1 << 20), st.sampled_from("KMGT"))
def test_binary_units_are_powers_of_1024(n: int, unit: str) -> None:
    scale = 1024 ** ("KMGT".index(unit) + 1)
    assert parse_size(f"{n}{unit}") == parse_size(f"{n}{unit}iB") == n * scale
    assert parse_size(f"{n}{unit}B") == n * 1000 ** ("KMGT".index(unit) + 1)
