"""The soak's configuration and its report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..._cliutil import MAX_SECONDS
from ...errors import InvalidParameter
from ...zswap import FLOWS

if TYPE_CHECKING:
    pass


# ---------------------------------------------------------------------------- config/report --
@dataclass(frozen=True)
class SoakConfig:
    """What a soak runs. The defaults are the CI soak's."""

    seconds: float = 60.0
    #: worker threads (each owns its slots); the chaos, reclaim and fault threads come on top
    threads: int = 4
    seed: int = 0
    #: inject faults (faulty compressor, zsmalloc and swap I/O failures, corruption, …)
    faults: bool = True
    nr_cpus: int = 4
    lifetime: str = "pool"
    #: zswap's flow (``Zswap(flow=...)``): the soak runs either flow, or the one "auto" picks
    flow: str = "auto"
    #: RAM the global pool limit is a percentage of (small, so the limit is hit often)
    totalram_pages: int = 16384
    #: slots of the primary swap device and of the one swapped off and on at checkpoints
    swap_pages: int = 2048
    churn_pages: int = 4096
    #: slots a worker keeps at most (together they overflow the primary device)
    max_slots_per_worker: int = 700
    #: seconds between quiescent checkpoints
    checkpoint_every: float = 5.0
    #: directory for the swap files (default: a fresh temporary directory, removed at the end)
    directory: str | None = None
    #: take the busy volatile memcg offline from the chaos thread, concurrently with stores
    #: and frees (False: only at quiescent checkpoints)
    concurrent_memcg_offline: bool = True

    def check(self) -> None:
        if not 0 < self.seconds <= MAX_SECONDS:
            raise InvalidParameter(f"seconds must be in (0, {MAX_SECONDS:.0f}] (a week), got "
                                   f"{self.seconds!r}")
        if not 1 <= self.threads <= 64:
            raise InvalidParameter(f"threads must be 1..64, got {self.threads!r}")
        if not 2 <= self.nr_cpus <= 64:
            raise InvalidParameter(f"nr_cpus must be 2..64, got {self.nr_cpus!r}")
        if self.flow not in FLOWS:
            raise InvalidParameter(f"flow must be one of {', '.join(FLOWS)}, got {self.flow!r}")
        if self.seed < 0:
            raise InvalidParameter(f"seed must be non-negative, got {self.seed!r}")


@dataclass
class SoakReport:
    """What a soak did and found. ``ok`` means no mismatch, no unexpected error, no leak."""

    seconds: float
    threads: int
    seed: int
    faults: bool
    ops: int = 0
    ops_by_kind: dict[str, int] = field(default_factory=dict)
    expected_errors: dict[str, int] = field(default_factory=dict)
    unexpected_errors: int = 0
    unexpected_samples: list[str] = field(default_factory=list)
    loads_verified: int = 0
    final_pages_verified: int = 0
    mismatches: int = 0
    mismatch_samples: list[str] = field(default_factory=list)
    checkpoints: int = 0
    swapoffs: int = 0
    swapoff_pages: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    vmstat: dict[str, int] = field(default_factory=dict)
    swap: dict[str, int] = field(default_factory=dict)
    leaks: dict[str, list[str]] = field(default_factory=dict)
    #: the process's peak resident memory (``ru_maxrss``), MiB
    peak_rss_mib: float = 0.0

    @property
    def expected_error_count(self) -> int:
        return sum(self.expected_errors.values())

    @property
    def leak_count(self) -> int:
        return sum(len(v) for v in self.leaks.values())

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.unexpected_errors or self.leak_count)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["expected_error_count"] = self.expected_error_count
        out["leak_count"] = self.leak_count
        out["ok"] = self.ok
        return out

    def lines(self) -> list[str]:
        """The human report."""
        def kinds(d: dict[str, int]) -> str:
            return ", ".join(f"{k} {v:,}" for k, v in sorted(d.items()) if v) or "none"

        st = self.stats
        out = [
            f"pyzswap soak: {self.seconds:.1f} s, {self.threads} workers + chaos, reclaim"
            f"{', faults' if self.faults else ''}; seed {self.seed}",
            f"operations: {self.ops:,}, {self.ops / max(self.seconds, 1e-9):,.0f}/s "
            f"({kinds(self.ops_by_kind)})",
            f"loads verified against the ledger: {self.loads_verified:,} during the run, "
            f"{self.final_pages_verified:,} at the end",
            f"mismatches: {self.mismatches}",
            f"unexpected errors: {self.unexpected_errors}",
            f"expected errors (injected faults and races): {self.expected_error_count:,} "
            f"({kinds(self.expected_errors)})",
            f"faults injected: {kinds(self.faults_injected)}",
            f"checkpoints (invariants checked): {self.checkpoints}; swapoff+swapon: "
            f"{self.swapoffs} ({self.swapoff_pages:,} pages brought back)",
            "zswap: " + ", ".join(f"{k} {st.get(k, 0):,}" for k in (
                "written_back_pages", "pool_limit_hit", "reject_reclaim_fail",
                "reject_alloc_fail", "reject_compress_fail", "reject_compress_poor",
                "decompress_fail")),
            f"vmstat: {kinds(self.vmstat)}; swap: {kinds(self.swap)}",
            f"peak RSS: {self.peak_rss_mib:.0f} MiB",
            "leaks: " + ("none" if not self.leak_count else "; ".join(
                f"{k}: {', '.join(v)}" for k, v in self.leaks.items() if v)),
        ]
        for sample in self.mismatch_samples[:5]:
            out.append(f"  mismatch: {sample}")
        for sample in self.unexpected_samples[:5]:
            first, *rest = sample.splitlines() or [""]
            out.append(f"  unexpected: {first}" + (f" ... {rest[-1]}" if rest else ""))
        out.append("result: PASS" if self.ok else "result: FAIL")
        return out
