"""Workingset detection (``mm/workingset.c``): the non-resident age reclaim leaves in a
shadow, and the refault test that activates a folio whose refault distance fits in the
active list."""

# mypy: disable-error-code="misc"
# (the methods' self is the MemoryModel this class is a base of: mypy accepts a self type
# that is not a supertype of the class only for a Protocol, and reports it as "misc")
from __future__ import annotations

from typing import TYPE_CHECKING

from mypy_extensions import trait

from .base import F_SHADOW_WS, F_WORKINGSET, LruVec, Proc

if TYPE_CHECKING:
    from .model import MemoryModel


@trait
class Workingset:
    """The workingset steps of :class:`~pyzswap.run.mm.MemoryModel`."""

    @staticmethod
    def _age_nonresident(vec: LruVec | None, nr: int) -> None:
        """``workingset_age_nonresident``: the lruvec and every ancestor."""
        while vec is not None:
            vec.nonresident_age += nr
            vec = vec.parent

    def _workingset_refault(self: MemoryModel, proc: Proc, g: int, eviction: int) -> bool:
        """``workingset_refault`` / ``workingset_test_recent`` for an anon folio: count the
        refault; activate it if its refault distance (the eviction lruvec's non-resident age
        since) is at most the active anon pages of that lruvec (with swap available); a folio
        that was workingset at eviction is restored as such."""
        st = self.stats
        st.workingset_refault_anon += 1
        vec = proc.vec
        vec.ws_refault += 1
        memcg_id = self._mv_shadow_memcg[g]
        ev_vec = self._vecs.get(memcg_id)
        if ev_vec is None or not ev_vec.memcg.online:
            return False
        distance = ev_vec.nonresident_age - eviction
        size = ev_vec.flushed[1] if self._nr_swap_free() > 0 else 0
        if distance > size:
            return False
        self._age_nonresident(vec, 1)
        st.workingset_activate_anon += 1
        vec.ws_activate += 1
        if self._mv_flags[g] & F_SHADOW_WS:
            self._mv_flags[g] |= F_WORKINGSET
            st.workingset_restore_anon += 1
            self._lru_note_cost(vec, 1, 0)  # lru_note_cost_refault
        return True

