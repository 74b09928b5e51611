"""Run a study's cells on Dask distributed: resumable, fault tolerant, with progress.

Each cell is one ``pyzswap run``: :func:`execute_cell` builds the workload with
:func:`~pyzswap.run.workload.workload_from_name` and calls
:func:`~pyzswap.run.harness.run_workload`, the calls the ``run`` command makes. It runs on a
Dask worker (a process of a :class:`distributed.LocalCluster`, one per core, by default; or
the workers of an existing scheduler) and returns a record: status, error, where and how long
it ran, and the run's report.

* **Resumable**: the client writes each record to the :class:`~.store.CellStore` the moment it
  arrives; a rerun submits only cells whose key has no record. Cells with equal keys are
  computed once.
* **Fault tolerant**: a cell that raises is recorded with its error (the study goes on);
  the records never leave the client, so a worker killed mid-study loses only the cells it
  was running, which the scheduler gives to another worker (a cell that kills workers
  ``distributed.scheduler.allowed-failures`` times is recorded as failed, ``KilledWorker``).
* **Inputs**: workers open a workload file at its path (a shared path on a cluster), or get
  its bytes with the task (``ship``): the bytes are one task the cells depend on, so the
  scheduler can recompute it if the worker holding it dies.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ... import __version__
from ...errors import ZswapError
from ...run.harness import run_workload
from ...run.workload import workload_from_name
from .spec import Cell, Spec, WorkloadRef
from .store import CellStore, write_table

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["SHIP_LIMIT", "StudyError", "StudyProgress", "StudyResult", "execute_cell",
           "run_study"]

#: Report keys that hold raw samples rather than figures (the percentiles are kept).
RAW_SAMPLES: Final = ("latency_us",)
#: Default largest workload (bytes) shipped with the task instead of read from a shared path.
SHIP_LIMIT: Final = 8 << 20
_SHIP_MODES: Final = ("auto", "always", "never")
#: Dask settings for the local cluster (measured with ``pyzswap bench study`` and idle
#: clusters): no ``MALLOC_TRIM_THRESHOLD_=65536`` in the workers (Dask's default hands freed
#: memory back to the kernel at once; a replay allocates and frees page buffers all the time
#: and paid twice the system time and six times the page faults for it, 15% more CPU); no
#: statistical profiler (it samples the running cell's stack every 10 ms for the dashboard's
#: profile page); the event-loop watchdog and the system monitor every 500 ms and 2 s instead
#: of 20 ms and 500 ms. An idle scheduler and worker then take 2% of a core instead of 5.4%;
#: the dashboard keeps the task stream and progress.
LOCAL_CLUSTER_CONFIG: Final[dict[str, Any]] = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
}


class StudyError(ZswapError):
    """The study cannot go on (the scheduler is gone, a cell was cancelled)."""


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"


@contextmanager
def _workload_source(ref: WorkloadRef, shipped: dict[str, bytes] | None) -> Iterator[str]:
    """What to hand workload_from_name: the built-in name, the path, or a shipped copy."""
    if ref.kind == "builtin" or shipped is None:
        yield ref.source
    else:
        with tempfile.TemporaryDirectory(prefix="pyzswap-study-") as tmp:
            for name, data in shipped.items():
                Path(tmp, name).write_bytes(data)
            yield str(Path(tmp, Path(ref.source).name))


def execute_cell(cell: Cell, shipped: dict[str, bytes] | None = None, *,
                 swap_dir: str | None = None) -> dict[str, Any]:
    """Run one cell, where this is called; never raises for the cell's own failure."""
    started = time.time()
    t0 = time.perf_counter()
    record: dict[str, Any] = {"key": cell.key, "version": __version__, "status": "ok",
                              "error": None, "report": None}
    try:
        with _workload_source(cell.workload, shipped) as source:
            workload = workload_from_name(source, **cell.resolved.workload)
            config = cell.run_config()
            ram = cell.resolved.config.get("ram_pages")
            if isinstance(ram, str):  # "N%" of the workload's pages
                config = replace(config, ram_pages=max(
                    1, round(workload.total_pages * float(ram[:-1]) / 100)))
            report = run_workload(workload, config, swap_dir=swap_dir).to_dict()
        record["report"] = {k: v for k, v in report.items() if k not in RAW_SAMPLES}
    except Exception as exc:
        record["status"] = "error"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=-8)
    record["execution"] = {
        "exec_id": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid(),
        "worker": _worker_address(), "started_at": started,
        "seconds": round(time.perf_counter() - t0, 4),
    }
    return record


def _warm_up() -> None:
    """Import what a cell needs (a worker would on its first cell)."""
    import_module("pyzswap.tools.study.engine")


def _ship(data: dict[str, bytes]) -> dict[str, bytes]:
    """The task that holds a shipped workload's bytes (recomputable from its own spec)."""
    return data


@dataclass
class StudyProgress:
    """Where a study is: what the terminal and the callbacks see."""

    total: int
    cached: int = 0
    computed: int = 0
    failed: int = 0
    started: float = field(default_factory=time.perf_counter)
    dashboard: str | None = None
    workers: int = 0
    #: when the last cell was recorded (the cluster's stop is not the cells' time)
    ended: float | None = None

    @property
    def done(self) -> int:
        return self.cached + self.computed

    @property
    def elapsed(self) -> float:
        """Seconds from the first submission to the last record (or to now)."""
        return (self.ended or time.perf_counter()) - self.started

    def eta(self) -> float | None:
        """Seconds left at this run's rate (None before the first computed cell)."""
        if not self.computed:
            return None
        return (self.total - self.done) * self.elapsed / self.computed


#: Called after every recorded cell (record None: the study starts, cached cells counted).
ProgressCallback = Callable[[StudyProgress, dict[str, Any] | None], None]


@dataclass
class StudyResult:
    """What a study run did: the counts and where the table is."""

    total: int
    cached: int
    computed: int
    failed: int
    seconds: float
    table: Path
    #: exec ids of the cells this run computed (to tell a recomputation from a reuse)
    executed: list[str]
    #: from the first submission to the last record (``seconds`` is the whole call)
    cells_seconds: float = 0.0


def _connect(scheduler: str | None, workers: int | None,
             dashboard: bool) -> tuple[Client, Callable[[], None]]:
    import logging

    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        client = Client(scheduler)  # type: ignore[no-untyped-call]
        return client, client.close
    with warnings.catch_warnings(), dask.config.set(LOCAL_CLUSTER_CONFIG):
        warnings.simplefilter("ignore", UserWarning)  # "port 8787 is in use": another port
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
            processes=True, silence_logs=logging.ERROR,
            dashboard_address="127.0.0.1:8787" if dashboard else None)
        client = Client(cluster)  # type: ignore[no-untyped-call]

    def close() -> None:
        client.close()  # type: ignore[no-untyped-call]
        cluster.close()

    return client, close


def _should_ship(ref: WorkloadRef, mode: str, remote: bool, limit: int) -> bool:
    if ref.kind == "builtin" or not ref.shippable:
        return False
    if mode == "always":
        return True
    return mode == "auto" and remote and ref.size <= limit


def _failed_record(cell: Cell, exc: BaseException) -> dict[str, Any]:
    return {"key": cell.key, "version": __version__, "status": "error",
            "error": f"{type(exc).__name__}: {exc}", "report": None,
            "execution": {"exec_id": uuid.uuid4().hex, "worker": "", "seconds": 0.0}}


def run_study(spec: Spec, out: str | os.PathLike[str] | CellStore, *, scheduler: str | None = None,
              workers: int | None = None, ship: str = "auto", ship_limit: int = SHIP_LIMIT,
              retry_failed: bool = False, progress: ProgressCallback | None = None,
              dashboard: bool = True, client: Client | None = None) -> StudyResult:
    """Compute every cell of ``spec`` that ``out`` (a study directory or its
    :class:`~.store.CellStore`) has no record of; write the table.

    ``scheduler`` is a Dask scheduler address (``tcp://host:8786``); without it a
    ``LocalCluster`` of ``workers`` processes (default: one per core) runs the cells. An open
    ``client`` may be given instead. Raises ``KeyboardInterrupt`` as it came, after writing
    the table of the cells finished so far.
    """
    if ship not in _SHIP_MODES:
        raise StudyError(f"ship must be one of {', '.join(_SHIP_MODES)}, got {ship!r}")
    t_call = time.perf_counter()
    store = out if isinstance(out, CellStore) else CellStore(out)
    pending: dict[str, list[Cell]] = {}
    state = StudyProgress(total=len(spec.cells))
    for cell in spec.cells:
        record = store.get(cell.key)
        if record is not None and (record["status"] == "ok" or not retry_failed):
            state.cached += 1
            state.failed += record["status"] != "ok"
        else:
            pending.setdefault(cell.key, []).append(cell)
    executed: list[str] = []
    close: Callable[[], None] = lambda: None  # noqa: E731
    if pending and client is None:  # before anything is written: no cluster, no change
        client, close = _connect(scheduler, workers, dashboard)
    try:
        store.save_hashes()
        if pending:
            assert client is not None
            _compute(pending, store, state, executed, client, remote=scheduler is not None,
                     ship=ship, ship_limit=ship_limit, progress=progress, dashboard=dashboard)
        elif progress is not None:
            progress(state, None)
    finally:
        try:
            close()
        finally:
            table = write_table(spec, store)
    return StudyResult(state.total, state.cached, state.computed, state.failed,
                       time.perf_counter() - t_call, table, executed, state.elapsed)


def _compute(pending: dict[str, list[Cell]], store: CellStore, state: StudyProgress,
             executed: list[str], client: Client, *, remote: bool, ship: str,
             ship_limit: int, progress: ProgressCallback | None, dashboard: bool) -> None:
    from distributed import as_completed

    remote = remote or not _is_local(client)
    futures: dict[Future[Any], list[Cell]] = {}
    try:
        state.dashboard = client.dashboard_link if dashboard else None
        state.workers = len(client.scheduler_info().get("workers", {}))
        client.run(_warm_up)  # the workers there now import the run before the clock starts
        state.started = time.perf_counter()
        if progress is not None:
            progress(state, None)
        inputs: dict[str, Future[Any]] = {}
        for key, cells in pending.items():
            ref = cells[0].workload
            shipped = None
            if _should_ship(ref, ship, remote, ship_limit):
                if ref.sha256 not in inputs:
                    data = {Path(ref.source).name: Path(ref.source).read_bytes()}
                    inputs[ref.sha256] = client.submit(_ship, data, key=f"input-{ref.sha256}",
                                                       pure=False)
                shipped = inputs[ref.sha256]
            fut = client.submit(execute_cell, cells[0], shipped, key=f"cell-{key}",
                                pure=False)
            futures[fut] = cells
        for fut in as_completed(list(futures)):  # type: ignore[no-untyped-call]
            cells = futures.pop(fut)
            if fut.status == "finished":
                record = fut.result()
            elif fut.status == "error":
                record = _failed_record(cells[0], fut.exception())
            else:
                raise StudyError(f"cell {cells[0].variant} [{cells[0].config}] was "
                                 f"{fut.status} by the scheduler; rerun to resume")
            store.put(record)
            executed.append(record["execution"]["exec_id"])
            for _ in cells:
                state.computed += 1
                state.failed += record["status"] != "ok"
            if progress is not None:
                progress(state, record)
        state.ended = time.perf_counter()
    finally:
        if futures:
            client.cancel(list(futures))  # type: ignore[no-untyped-call]


def _is_local(client: Client) -> bool:
    """Whether every worker runs on this host (then paths need no shipping)."""
    hosts = {w.get("host") for w in client.scheduler_info().get("workers", {}).values()}
    local = {"127.0.0.1", "localhost", socket.gethostname()}
    with suppress(OSError):
        local.add(socket.gethostbyname(socket.gethostname()))
    return hosts <= local
