"""The registry of compressors by kernel name (the kernel's ``crypto_has_acomp`` lookup)."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InvalidParameter, UnknownCompressor
from ._base import Compressor

__all__ = ["add_factory", "available_compressors", "get_compressor", "has_compressor",
           "register_compressor"]

_REGISTRY: dict[str, Compressor] = {}
#: Makers of compressors on first use of their name (the kernel's crypto API loads an
#: algorithm's module on demand): each returns a new compressor for a name it understands,
#: else None. ``pyzswap.compress.batching`` adds one for ``{base}-x{engines}[-b{batch}]``.
_FACTORIES: list[Callable[[str], Compressor | None]] = []
#: What the factories accept, for error messages (e.g. "zstd-x2: <name> on 2 engines").
_FACTORY_HINTS: list[str] = []


def register_compressor(compressor: Compressor, *, replace: bool = False) -> Compressor:
    """Register ``compressor`` under its name; its batch size must be a positive integer.

    Like the crypto API's ``crypto_acomp_batch_size()``, the registry sets no upper bound:
    zswap clamps a pool's batch size to ZSWAP_MAX_BATCH_SIZE (``ZswapPool.compr_batch_size``).
    """
    name = compressor.name
    if not name or not isinstance(name, str):
        raise InvalidParameter("a compressor needs a non-empty name")
    batch = compressor.batch_size
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InvalidParameter(
            f"compressor {name!r}: batch_size {batch!r} is not a positive integer")
    if name in _REGISTRY and not replace:
        raise InvalidParameter(f"a compressor named {name!r} is already registered")
    _REGISTRY[name] = compressor
    return compressor


def unregister_compressor(name: str) -> None:
    """Remove a compressor (for tests and plug-ins); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def add_factory(factory: Callable[[str], Compressor | None], hint: str = "") -> None:
    """Let ``factory`` make (and so register) compressors on first use of their name;
    ``hint`` describes the names it accepts (shown when a name is unknown)."""
    _FACTORIES.append(factory)
    if hint:
        _FACTORY_HINTS.append(hint)


def _make(name: str) -> Compressor | None:
    for factory in _FACTORIES:
        made = factory(name)
        if made is not None:
            return made
    return None


def _made_on_demand(name: str) -> Compressor | None:
    made = _make(name)
    return None if made is None else _REGISTRY.setdefault(made.name, made)


def has_compressor(name: str) -> bool:
    """True if ``name`` is registered or can be made on demand (nothing is registered)."""
    return name in _REGISTRY or (isinstance(name, str) and _make(name) is not None)


def get_compressor(name: str) -> Compressor:
    """The compressor registered as ``name``; :class:`UnknownCompressor` names the valid ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        made = _made_on_demand(name) if isinstance(name, str) else None
        if made is not None:
            return made
        hints = "".join(f"; {h}" for h in _FACTORY_HINTS)
        raise UnknownCompressor(
            f"unknown compressor {name!r} (available: {', '.join(available_compressors())}"
            f"{hints})"
        ) from None


def available_compressors() -> list[str]:
    """Registered names, sorted."""
    return sorted(_REGISTRY)
