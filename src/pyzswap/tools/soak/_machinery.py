"""The soak's small parts: the checkpoint gate, the checksum ledger, a worker's state."""

from __future__ import annotations

import contextlib
import os
import random
import threading
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...memcg import MemCgroup

if TYPE_CHECKING:
    from ..._types import BytesLike


# ---------------------------------------------------------------------------- machinery ------
class _Gate:
    """Operations take the read side; a checkpoint takes the write side (writers first), so it
    sees every soak thread between two operations."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class _Ledger:
    """One owner's slots: swap entry -> (CRC-32 of the page's last contents, its memcg), with
    O(1) random choice."""

    def __init__(self) -> None:
        self.crc: dict[int, tuple[int, MemCgroup | None]] = {}
        self._keys: list[int] = []
        self._pos: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, swp: object) -> bool:
        return swp in self._pos

    def put(self, swp: int, crc: int, memcg: MemCgroup | None) -> None:
        if swp not in self._pos:
            self._pos[swp] = len(self._keys)
            self._keys.append(swp)
        self.crc[swp] = (crc, memcg)

    def remove(self, swp: int) -> None:
        i = self._pos.pop(swp)
        last = self._keys.pop()
        if last != swp:
            self._keys[i] = last
            self._pos[last] = i
        del self.crc[swp]

    def pick(self, rng: random.Random) -> int:
        return self._keys[rng.randrange(len(self._keys))]

    def slots(self) -> list[int]:
        return list(self._keys)


class _Worker:
    def __init__(self, index: int, seed: int) -> None:
        self.index = index
        self.rng = random.Random(seed)
        self.ledger = _Ledger()
        self.version = 0


def _crc(data: BytesLike) -> int:
    return zlib.crc32(data)


def _fd_set() -> set[str]:
    try:
        return set(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - not Linux
        return set()


def _fd_desc(fd: str) -> str:
    try:
        return f"{fd}->{os.readlink(f'/proc/self/fd/{fd}')}"
    except OSError:
        return fd
