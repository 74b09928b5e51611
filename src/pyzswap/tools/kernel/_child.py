"""The child process of ``pyzswap kernel zswap``: real anonymous memory for the kernel to swap.

Run as a script by path (``python -I _child.py NPAGES CPU``), standard library only, so it starts
fast and imports nothing of pyzswap. It talks to its parent over stdin/stdout:

1. It pins itself to one CPU, maps ``NPAGES`` pages of private anonymous memory with
   ``MADV_NOHUGEPAGE`` (no large folios: every page is a separate order-0 folio, so the swap
   core's zero check and zswap see single pages, as ``store_check(folio_pages=1)`` models), and
   fills the mapping from stdin. Filling *writes* every page, zero pages included, so each page
   is a real anonymous page (not the shared zero page). It replies ``{"event": "ready"}``.
2. ``pageout``: ``madvise(MADV_PAGEOUT)`` over the whole mapping, timed. Pages still resident
   afterwards (a folio that was on another CPU's LRU batch, say) get up to four more tries. The
   reply gives the time of the first call, the attempts, and the mapping's ``Rss``/``Swap`` from
   ``/proc/self/smaps``. The mapping is not touched again until the parent asks, so nothing is
   faulted back in before the parent has read zswap's statistics.
3. ``readback``: copy the whole mapping (every page faults back in, from zswap or from the swap
   core's zero map), timed in wall-clock and in this thread's CPU time (user and kernel: the
   faults and zswap's decompressions run in it); reply, then write the copy raw to stdout for
   the parent to verify.
4. ``exit`` or end of stdin: exit. If the parent dies, stdin closes and the child exits, which
   frees its swap slots (and with them the zswap entries) before anyone runs ``swapoff``.

The CPU pin matters: ``madvise(MADV_PAGEOUT)`` drains only the calling CPU's LRU batches, so
pages faulted on another CPU could still be in a per-CPU batch, not on an LRU, and be skipped.
"""

from __future__ import annotations

import ctypes
import io
import json
import mmap
import os
import sys
import time

__all__ = ["main"]

MADV_PAGEOUT = 21  # not exported by Python 3.11's mmap module
MADV_NOHUGEPAGE = 15
PAGE_SIZE = mmap.PAGESIZE  # the host's page size (this script imports nothing of pyzswap)
MAX_ATTEMPTS = 5


def _smaps(addr: int) -> dict[str, int]:
    """The ``/proc/self/smaps`` fields (kB) of the mapping starting at ``addr``."""
    head = f"{addr:x}-"
    out: dict[str, int] = {}
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            if not inside:
                inside = line.startswith(head)
                continue
            key, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2 and parts[1] == "kB":
                out[key] = int(parts[0])
            elif "-" in key.split(" ")[0]:  # next mapping header
                break
    return out


def _reply(obj: dict[str, object]) -> None:
    sys.stdout.buffer.write(json.dumps(obj).encode() + b"\n")
    sys.stdout.buffer.flush()


def main(argv: list[str]) -> int:
    npages, cpu = int(argv[1]), int(argv[2])
    os.sched_setaffinity(0, {cpu})
    nbytes = npages * PAGE_SIZE
    mm = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                   prot=mmap.PROT_READ | mmap.PROT_WRITE)
    mm.madvise(MADV_NOHUGEPAGE)
    anchor = ctypes.c_char.from_buffer(mm)
    addr = ctypes.addressof(anchor)
    del anchor
    stdin: io.BufferedReader = sys.stdin.buffer  # type: ignore[assignment]
    view = memoryview(mm)
    got = 0
    while got < nbytes:
        n = stdin.readinto(view[got:])
        if not n:
            _reply({"event": "error", "error": f"short input: {got} of {nbytes} bytes"})
            return 3
        got += n
    view.release()
    _reply({"event": "ready", "pid": os.getpid(), "cpu": cpu,
            "rss_kib": _smaps(addr).get("Rss", -1)})
    for line in stdin:
        cmd = line.strip()
        if cmd == b"pageout":
            t0 = time.perf_counter()
            mm.madvise(MADV_PAGEOUT)
            first = time.perf_counter() - t0
            attempts, sm = 1, _smaps(addr)
            while sm.get("Rss", 0) > 0 and attempts < MAX_ATTEMPTS:
                time.sleep(0.01)
                mm.madvise(MADV_PAGEOUT)
                attempts, sm = attempts + 1, _smaps(addr)
            _reply({"event": "pageout", "seconds": first,
                    "total_seconds": time.perf_counter() - t0, "attempts": attempts,
                    "rss_kib": sm.get("Rss", -1), "swap_kib": sm.get("Swap", -1)})
        elif cmd == b"readback":
            c0, t0 = time.thread_time(), time.perf_counter()
            copy = mm[:]  # faults every page back in
            seconds, cpu_s = time.perf_counter() - t0, time.thread_time() - c0
            _reply({"event": "readback", "seconds": seconds, "cpu_seconds": cpu_s,
                    "bytes": len(copy),
                    "rss_kib": _smaps(addr).get("Rss", -1)})
            sys.stdout.buffer.write(copy)
            sys.stdout.buffer.flush()
            del copy
        elif cmd == b"exit":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
