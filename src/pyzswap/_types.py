"""Type aliases shared by the leaves (private; imports nothing of pyzswap)."""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["BytesLike", "WritableBuffer"]

#: Page data as pyzswap accepts it: any contiguous bytes-like object.
BytesLike: TypeAlias = bytes | bytearray | memoryview
#: A destination for page data.
WritableBuffer: TypeAlias = bytearray | memoryview
