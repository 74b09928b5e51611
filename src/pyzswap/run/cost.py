"""The cost model of ``pyzswap run``: what a run's faults and CPU work would cost on a machine.

The mm model counts events (pages stored in zswap, pages read from the swap device, pages
written back); its swap "device" is a temporary file served from the page cache, so its own
timings say nothing about a real disk. This module turns the counts into time with a model of
the swap device (:data:`SWAP_DEVICES`, or a latency given by the user) and the decompression
cost the run measured:

``stall_seconds``
    Time tasks wait in page faults for swapped-out memory:
    ``zswap_loads x load_us`` (a fault served by zswap decompresses the page; ``load_us`` is the
    median latency of pyzswap's own load path, measured during the run) plus
    ``device_reads x (read_latency + 4096 / read_bandwidth)`` (every page read from the swap
    device, readahead included, is counted as one random 4 KiB read: an upper bound, since
    readahead shares one I/O among up to ``2**page_cluster`` pages).
``cpu_seconds``
    CPU time of compression (``zswpout x store_us``), decompression (``zswap_loads x
    load_us``) and writeback (``written_back x load_us``: each page is decompressed before its
    write, which is device time), with the median store and load latencies measured in the
    run: medians, because on a busy machine a few calls are preempted for milliseconds and
    would dominate a mean and the ranking of ``advise``.
``device_write_seconds``
    Device time of the pages written to the swap device (``pswpout``, writeback included):
    ``pswpout x (write_latency + 4096 / write_bandwidth)``. Writes are asynchronous (reclaim does
    not wait for them), so they are not stall time, but they occupy the device and wear flash.
``time_seconds``
    Stall plus CPU time: what the workload loses to swapping, the figure ``advise`` weighs.
``memory_saved_bytes``
    The run's mean of ``stored_pages x 4096 - pool_total_size`` (for zram: of
    ``orig_data_size - mem_used_total``): what the compressed pool saves on average, the figure
    to plan with (the value at the end moves with the seed).

The device presets are typical figures of each class at queue depth 1 (a page fault waits for
one read), from public data sheets and the drives' geometry; give ``--swap-latency`` for a
measured device (e.g. ``fio --rw=randread --bs=4k --iodepth=1`` on the swap partition).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from ..errors import InvalidParameter

__all__ = ["SWAP_DEVICES", "SwapDevice", "estimate", "spread", "swap_device"]

from ..folio import PAGE_SIZE

_MB: Final = 1_000_000


@dataclass(frozen=True)
class SwapDevice:
    """A swap device's cost of one 4 KiB page (latencies in microseconds, bandwidth in MB/s)."""

    name: str
    read_latency_us: float
    write_latency_us: float
    read_mb_s: float
    write_mb_s: float
    source: str

    def read_us(self) -> float:
        """Time of one random 4 KiB read (latency plus transfer)."""
        return self.read_latency_us + PAGE_SIZE * 1e6 / (self.read_mb_s * _MB)

    def write_us(self) -> float:
        return self.write_latency_us + PAGE_SIZE * 1e6 / (self.write_mb_s * _MB)


#: Device presets for ``--swap-device`` (QD1 4 KiB latencies, sequential bandwidth).
SWAP_DEVICES: Final[dict[str, SwapDevice]] = {
    "nvme": SwapDevice(
        "nvme", 53.0, 17.0, 3500.0, 3300.0,
        "a PCIe 3.0 NVMe SSD (Samsung 970 EVO Plus data sheet: 4 KiB random read at QD1 "
        "19,000 IOPS = 53 us, write at QD1 60,000 IOPS = 17 us; sequential 3,500 / 3,300 MB/s)"),
    "ssd": SwapDevice(
        "ssd", 100.0, 24.0, 550.0, 520.0,
        "a SATA SSD (Samsung 860 EVO data sheet: 4 KiB random read at QD1 10,000 IOPS = "
        "100 us, write at QD1 42,000 IOPS = 24 us; sequential 550 / 520 MB/s, the SATA 6 Gb/s "
        "limit)"),
    "hdd": SwapDevice(
        "hdd", 12_700.0, 12_700.0, 160.0, 160.0,
        "a 7,200 rpm disk: half a revolution (60 s / 7200 / 2 = 4.17 ms) plus an average seek "
        "of about 8.5 ms per random access; about 160 MB/s sequential"),
    "zram": SwapDevice(
        "zram", 0.0, 0.0, math.inf, math.inf,
        "zram: memory, no I/O; a read is a decompression and a write a compression, both "
        "measured in the run"),
}


def swap_device(name: str, latency_us: float | None = None) -> SwapDevice:
    """The preset ``name``, or a custom device if ``latency_us`` (read and write) is given."""
    if latency_us is not None:
        if not (math.isfinite(latency_us) and latency_us >= 0):
            raise InvalidParameter(f"swap latency must be a finite number >= 0, got {latency_us}")
        return SwapDevice("custom", latency_us, latency_us, math.inf, math.inf,
                          f"--swap-latency {latency_us:g} us (reads and writes; bandwidth "
                          "not limiting)")
    try:
        return SWAP_DEVICES[name]
    except KeyError:
        raise InvalidParameter(f"unknown swap device {name!r} (choose from "
                               f"{', '.join(SWAP_DEVICES)})") from None


def estimate(report: Mapping[str, Any], device: SwapDevice) -> dict[str, Any]:
    """The cost section of one run's report (module docstring); JSON-able."""
    backend = report.get("backend", "zswap")
    swapins = report["swapins"]
    lat = report["latency"]
    # Medians of the timed calls: a busy machine preempts a few calls for milliseconds, which
    # would dominate a mean; the median is the cost of the code (the means are in latency).
    store_us = float(lat["store"]["p50_us"])
    load_us = float(lat["load"]["p50_us"])
    stores = int(report["vmstat"]["zswpout"])  # pages compressed (zram: into the device)
    decompressions = int(swapins["zswap"])      # faults served by zswap (zram: by the device)
    written_back = int(report["writeback"]["written_back_pages"])
    device_reads = int(swapins["disk"])
    device_writes = int(report["vmstat"]["pswpout"]) - (stores if backend == "zram" else 0)
    stall_loads = decompressions * load_us / 1e6
    stall_reads = device_reads * device.read_us() / 1e6
    compress = stores * store_us / 1e6
    decompress = decompressions * load_us / 1e6
    writeback = written_back * load_us / 1e6  # decompressed before the device write
    if backend == "zram":
        saved = int(report["zram"]["mean_saved_bytes"])
        saved_now = int(report["zram"]["orig_data_size"]) - int(report["zram"]["mem_used_total"])
    else:
        saved = int(report["memory"]["mean_saved_bytes"])
        saved_now = int(report["memory"]["saved_bytes"])
    return {
        "swap_device": {**{k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                           for k, v in asdict(device).items()}},
        "store_us": round(store_us, 3),
        "load_us": round(load_us, 3),
        "compressions": stores,
        "decompressions": decompressions,
        "written_back": written_back,
        "device_reads": device_reads,
        "device_writes": device_writes,
        "stall_seconds": {"zswap_loads": round(stall_loads, 6),
                          "device_reads": round(stall_reads, 6),
                          "total": round(stall_loads + stall_reads, 6)},
        "cpu_seconds": {"compress": round(compress, 6), "decompress": round(decompress, 6),
                        "writeback": round(writeback, 6),
                        "total": round(compress + decompress + writeback, 6)},
        "device_write_seconds": round(device_writes * device.write_us() / 1e6, 6),
        "memory_saved_bytes": saved,
        "memory_saved_now_bytes": saved_now,
        "time_seconds": round(stall_loads + stall_reads + compress + decompress + writeback, 6),
    }


#: The figures whose spread over seeds a report gives: name -> path in the report.
SPREAD_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "memory_saved_bytes": ("cost", "memory_saved_bytes"),
    "memory_saved_now_bytes": ("cost", "memory_saved_now_bytes"),
    "stall_seconds": ("cost", "stall_seconds", "total"),
    "cpu_seconds": ("cost", "cpu_seconds", "total"),
    "time_seconds": ("cost", "time_seconds"),
    "device_reads": ("cost", "device_reads"),
    "device_writes": ("cost", "device_writes"),
    "major_faults": ("faults", "major"),
}


def _get(report: Mapping[str, Any], path: Sequence[str]) -> float:
    node: Any = report
    for key in path:
        node = node[key]
    return float(node)


def spread(reports: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, standard deviation, min and max of :data:`SPREAD_FIELDS` over runs of different
    seeds (a standard deviation of 0 for a single run)."""
    out: dict[str, dict[str, float]] = {}
    for name, path in SPREAD_FIELDS.items():
        values = [_get(r, path) for r in reports]
        out[name] = {"mean": statistics.fmean(values),
                     "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
                     "min": min(values), "max": max(values), "n": len(values)}
    return out
