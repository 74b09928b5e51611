"""The cgroupfs files of a memory cgroup: what ``read``/``write`` show and accept, and
``memory.reclaim`` (``mm/memcontrol.c``'s ``cftype`` handlers, cgroup v2 and v1).

Files (``read(name) -> str`` / ``write(name, value)``, content exactly as cgroupfs shows it,
trailing newline included; the typed properties in brackets):

=========================  ====================================================================
``memory.zswap.max``       bytes or ``max`` (default); stored in pages, rounded down, as the
                           kernel's ``page_counter_memparse`` does; 0 disables zswap for the
                           group. Not on the root. [``zswap_max``: int bytes or None]
``memory.zswap.writeback`` ``0`` / ``1`` (default 1). Hierarchical: writeback is off for a group
                           if it or any ancestor has 0. [``zswap_writeback``]
``memory.zswap.current``   read-only, bytes = ``MEMCG_ZSWAP_B``. Not on the root.
                           [``zswap_current``]
``memory.max``             bytes or ``max``; stored for the memory-pressure harness (nothing here
                           reclaims). Not on the root. [``memory_max``]
``memory.current``         read-only: pages charged with :meth:`MemCgroup.charge_memory` plus
                           the zswap bytes (the kernel charges zswap's compressed objects to the
                           memory counter as kernel memory). Not on the root.
                           [``memory_current``]
``memory.stat``            read-only, the zswap lines: ``zswap`` (bytes), ``zswapped`` and
                           ``zswap_incomp`` (pages × PAGE_SIZE: memory.stat prints them in bytes,
                           like the kernel), and the events ``zswpin``, ``zswpout``, ``zswpwb``.
                           [``stat()``; ``zswapped`` is the page count ``MEMCG_ZSWAPPED``,
                           ``zswap_incomp`` the count ``MEMCG_ZSWAP_INCOMP``]
``memory.peak``            the memory counter's high watermark in bytes (``memory_peak_show``);
                           writing anything resets it to the current usage (``peak_write``: see
                           "Peaks" below). Not on the root. [``memory_peak``]
``memory.swap.current``    read-only, swap slots charged here and below, in bytes
                           (``MEMCG_SWAP``). Not on the root. [``swap_current``]
``memory.swap.max``        bytes or ``max`` (default): a charge that would cross it fails
                           (:meth:`MemCgroup.try_charge_swap`). Not on the root. [``swap_max``]
``memory.swap.peak``       the swap counter's high watermark, reset by a write like
                           ``memory.peak``. Not on the root. [``swap_peak``]
``memory.reclaim``         write-only (and on the root too): ``"<bytes> [swappiness=<0..200>]"``
                           asks the mm that registered itself with :meth:`set_reclaimer` to
                           reclaim that much from the group (``user_proactive_reclaim``);
                           :class:`ReclaimIncomplete` (-EAGAIN) when it could not.
=========================  ====================================================================

``zswap_incomp`` is mainline's (after 6.18): ``obj_cgroup_charge_zswap`` counts an entry whose
stored length is PAGE_SIZE (a page zswap keeps uncompressed) and ``obj_cgroup_uncharge_zswap``
uncounts it. The swap files, ``memory.peak`` and ``memory.reclaim`` exist under cgroup v2 only
(cgroup v1 accounts swap in ``memory.memsw.*``, which is not modelled).

Peaks (``peak_show``/``peak_write``): the kernel keeps a global watermark and, per open file
that wrote to the peak file, a watermark since that write. ``read``/``write`` here act as one
open file: until the first write a read shows the global watermark; after a write, the highest
usage since the last write.

Values parse as cgroupfs parses them: ``max``, or a number (decimal, ``0x`` hex, ``0`` octal)
with an optional ``K``/``M``/``G``/``T``/``P``/``E`` suffix (``memparse``); surrounding
whitespace is ignored. ``memory.zswap.writeback`` takes an integer (``kstrtoint``) that must be 0
or 1. Anything else raises :class:`~pyzswap.errors.InvalidParameter` and changes nothing.
Deviation: an empty value or a bare suffix (``"K"``) is refused, where the kernel's ``memparse``
would read 0.
"""

from __future__ import annotations

import errno as _errno
from typing import TYPE_CHECKING, Final

from ..errors import InvalidParameter, ZswapError
from ..folio import PAGE_SIZE
from ._parse import PAGE_COUNTER_MAX, kstrtoint, memparse, page_counter_memparse

if TYPE_CHECKING:
    from .cgroup import MemCgroup

#: The cgroupfs files modelled here (cgroup v2).
MEMCG_FILES: Final = ("memory.current", "memory.max", "memory.peak", "memory.stat",
                      "memory.swap.current", "memory.swap.max", "memory.swap.peak",
                      "memory.zswap.current", "memory.zswap.max", "memory.zswap.writeback")
#: The cgroup v2 files that can only be written (reading one raises InvalidParameter).
MEMCG_WRITE_ONLY: Final = ("memory.reclaim",)
#: The cgroup v1 files modelled here.
MEMCG_V1_FILES: Final = ("memory.limit_in_bytes", "memory.stat", "memory.swappiness",
                         "memory.usage_in_bytes")
_NOT_ON_ROOT: Final = frozenset(("memory.current", "memory.max", "memory.peak",
                                 "memory.swap.current", "memory.swap.max", "memory.swap.peak",
                                 "memory.zswap.current", "memory.zswap.max",
                                 "memory.limit_in_bytes", "memory.swappiness"))
_READ_ONLY: Final = frozenset(("memory.current", "memory.stat", "memory.swap.current",
                               "memory.zswap.current", "memory.usage_in_bytes"))
#: ``MIN_SWAPPINESS``: the lowest ``swappiness=`` memory.reclaim takes.
MIN_SWAPPINESS: Final = 0
#: ``vm_swappiness``'s default, and the v1 ``memory.swappiness`` a new hierarchy starts with.
DEFAULT_SWAPPINESS: Final = 60
#: ``MAX_SWAPPINESS``.
MAX_SWAPPINESS: Final = 200


class ReclaimIncomplete(ZswapError):
    """A ``memory.reclaim`` write reclaimed less than asked (``user_proactive_reclaim``'s
    -EAGAIN after ``MAX_RECLAIM_RETRIES`` attempts that reclaimed nothing)."""

    errno = _errno.EAGAIN


def _check_file(memcg: MemCgroup, name: str, files: tuple[str, ...] | None = None) -> None:
    """The file exists in this group's hierarchy and version, and the group is online."""
    if files is None:
        files = memcg._h.files
    if name not in files:
        raise InvalidParameter(f"no cgroup v{memcg._h.version} file {name!r} (known: "
                               f"{', '.join(files)})")
    if memcg.parent is None and name in _NOT_ON_ROOT:
        raise InvalidParameter(f"{name} does not exist on the root cgroup")
    if not memcg.online:
        raise InvalidParameter(f"{memcg.path}: the group was removed")


def read_file(memcg: MemCgroup, name: str) -> str:
    """:meth:`MemCgroup.read`: the file as cgroupfs shows it, trailing newline included."""
    if name in MEMCG_WRITE_ONLY and memcg._v2:
        raise InvalidParameter(f"{name} is write-only")
    _check_file(memcg, name)
    if name == "memory.peak":
        return f"{memcg.memory_peak}\n"
    if name == "memory.swap.current":
        return f"{memcg.swap_current}\n"
    if name == "memory.swap.peak":
        return f"{memcg.swap_peak}\n"
    if name == "memory.swap.max":
        return _show_max(memcg._swap_max)
    if name == "memory.zswap.max":
        return _show_max(memcg._zswap_max)
    if name == "memory.max":
        return _show_max(memcg._memory_max)
    if name == "memory.limit_in_bytes":
        return f"{memcg._memory_max * PAGE_SIZE}\n"
    if name == "memory.swappiness":
        return f"{memcg._swappiness}\n"
    if name == "memory.zswap.writeback":
        return f"{int(memcg._zswap_writeback)}\n"
    if name == "memory.zswap.current":
        return f"{memcg._zswap_b}\n"
    if name in ("memory.current", "memory.usage_in_bytes"):
        return f"{memcg.memory_current}\n"
    return "".join(f"{key} {value}\n" for key, value in memcg.stat().items())


def write_file(memcg: MemCgroup, name: str, value: object) -> None:
    """:meth:`MemCgroup.write`: parse and check ``value`` first, then change the knob (a bad
    value changes nothing); ``memory.reclaim`` reclaims outside ``cgroup_mutex``."""
    if name == "memory.reclaim":
        _check_file(memcg, name, memcg._h.writable)
        _memory_reclaim(memcg, value)
        return
    with memcg._h.cgroup_mutex:
        _check_file(memcg, name)
        if name in _READ_ONLY:
            raise InvalidParameter(f"{name} is read-only")
        if name in ("memory.peak", "memory.swap.peak"):  # peak_write: any content
            with memcg._lock:
                if name == "memory.peak":
                    pk = memcg._peak
                    pk[1] = memcg._memory_pages + -(-memcg._zswap_b // PAGE_SIZE)
                else:
                    pk = memcg._swap_peak
                    pk[1] = memcg._swap
            return
        if name == "memory.swap.max":  # swap_max_write
            memcg._swap_max = page_counter_memparse(value, name)
            return
        if name == "memory.zswap.writeback":
            number = kstrtoint(value, name)
            if number not in (0, 1):
                raise InvalidParameter(f"{name}: must be 0 or 1, got {number}")
            memcg._zswap_writeback = bool(number)
        elif name == "memory.zswap.max":
            memcg._zswap_max = page_counter_memparse(value, name)
        elif name == "memory.swappiness":  # mem_cgroup_swappiness_write
            number = kstrtoint(value, name)
            if not 0 <= number <= MAX_SWAPPINESS:
                raise InvalidParameter(f"{name}: must be 0..{MAX_SWAPPINESS}, got {number}")
            memcg._swappiness = number
        elif name == "memory.limit_in_bytes":  # v1: -1 means no limit
            text = value.strip() if isinstance(value, str) else value
            memcg._memory_max = (PAGE_COUNTER_MAX if text in ("-1", -1)
                                 else page_counter_memparse(value, name))
        else:  # memory.max
            memcg._memory_max = page_counter_memparse(value, name)


def _memory_reclaim(memcg: MemCgroup, value: object) -> None:
    """``user_proactive_reclaim`` for a memcg: parse ``"<bytes> [swappiness=N]"`` (bytes
    as ``memparse``, rounded down to pages; swappiness ``MIN_SWAPPINESS..MAX_SWAPPINESS``),
    then hand the work to the registered reclaimer. Runs without ``cgroup_mutex`` (the
    kernel's write does not serialise against other cgroup files either)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidParameter(f"memory.reclaim: expected bytes, got {value!r}")
    tokens = str(value).split()
    if not tokens:
        raise InvalidParameter("memory.reclaim: expected a number of bytes")
    nbytes = memparse(tokens[0], "memory.reclaim")
    swappiness: int | None = None
    for token in tokens[1:]:
        key, _, arg = token.partition("=")
        if key != "swappiness" or not arg:
            raise InvalidParameter(f"memory.reclaim: unknown option {token!r} (known: "
                                   "swappiness=N)")
        number = kstrtoint(arg, "memory.reclaim swappiness")
        if not MIN_SWAPPINESS <= number <= MAX_SWAPPINESS:
            raise InvalidParameter(f"memory.reclaim: swappiness must be "
                                   f"{MIN_SWAPPINESS}..{MAX_SWAPPINESS}, got {number}")
        swappiness = number
    if nbytes // PAGE_SIZE == 0:
        return  # the loop has nothing to do
    reclaimer = memcg._h.reclaimer
    if reclaimer is None or not reclaimer(memcg, nbytes - nbytes % PAGE_SIZE, swappiness):
        raise ReclaimIncomplete(f"{memcg.path}: memory.reclaim could not reclaim "
                                f"{nbytes} bytes")


def _show_max(pages: int) -> str:
    """``seq_puts_memcg_tunable``."""
    return "max\n" if pages == PAGE_COUNTER_MAX else f"{pages * PAGE_SIZE}\n"

