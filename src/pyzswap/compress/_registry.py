"""The registry of compressors by kernel name (the kernel's ``crypto_has_acomp`` lookup)."""

from __future__ import annotations

from ..errors import InvalidParameter, UnknownCompressor
from ._base import ZSWAP_MAX_BATCH_SIZE, Compressor

__all__ = ["available_compressors", "get_compressor", "has_compressor", "register_compressor"]

_REGISTRY: dict[str, Compressor] = {}


def register_compressor(compressor: Compressor, *, replace: bool = False) -> Compressor:
    """Register ``compressor`` under its name; the batch size must be 1..ZSWAP_MAX_BATCH_SIZE."""
    name = compressor.name
    if not name or not isinstance(name, str):
        raise InvalidParameter("a compressor needs a non-empty name")
    if not 1 <= compressor.batch_size <= ZSWAP_MAX_BATCH_SIZE:
        raise InvalidParameter(
            f"compressor {name!r}: batch_size {compressor.batch_size} is outside "
            f"1..{ZSWAP_MAX_BATCH_SIZE}"
        )
    if name in _REGISTRY and not replace:
        raise InvalidParameter(f"a compressor named {name!r} is already registered")
    _REGISTRY[name] = compressor
    return compressor


def unregister_compressor(name: str) -> None:
    """Remove a compressor (for tests and plug-ins); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def has_compressor(name: str) -> bool:
    """True if ``name`` is registered."""
    return name in _REGISTRY


def get_compressor(name: str) -> Compressor:
    """The compressor registered as ``name``; :class:`UnknownCompressor` names the valid ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownCompressor(
            f"unknown compressor {name!r} (available: {', '.join(available_compressors())})"
        ) from None


def available_compressors() -> list[str]:
    """Registered names, sorted."""
    return sorted(_REGISTRY)
