"""One seam for running tasks: serially, on a local process pool, or on a Dask cluster.

Every experiment (replications, comparisons, sweeps) is a list of independent
tasks ``fn(*args)`` returning small records. :func:`run_tasks` submits them to
the chosen backend, shows a progress bar, and returns the results **in task
order**, so numbers never depend on which worker finished first.

Backends:

* ``serial``   — in this process (workers = 1);
* ``process``  — :class:`concurrent.futures.ProcessPoolExecutor` (default: all cores);
* ``dask``     — ``dask.distributed`` (``pip install .[distributed]``): an existing
  scheduler (``--scheduler tcp://host:8786``) or a ``LocalCluster`` of N worker
  processes (``--dask-local N``).
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sim.errors import RunFault, ScenarioError

PR_SET_PDEATHSIG = 1  # linux/prctl.h
SCHEDULER_PATTERN = re.compile(r"^(?:(?:tcp|tls|inproc|ucx|ws|wss)://)?[\w.\-\[\]:]+:\d{1,5}$")
WORKER_LOST = (
    "a worker process stopped unexpectedly (killed, or out of memory); nothing was written"
)


@dataclass(frozen=True)
class ExecutorSpec:
    """Where tasks run: ``workers`` local processes, or a Dask scheduler / local cluster."""

    workers: int | None = None
    scheduler: str | None = None
    dask_local: int | None = None
    quiet: bool = False

    @property
    def kind(self) -> str:
        if self.scheduler or self.dask_local:
            return "dask"
        return "serial" if self.effective_workers() <= 1 else "process"

    def effective_workers(self) -> int:
        """Worker processes to start: as asked (default all cores), never more than cores."""
        cores = os.cpu_count() or 1
        asked = self.dask_local or self.workers or cores
        return max(1, min(asked, cores))

    def capped(self, tasks: int) -> ExecutorSpec:
        """The same backend with no more local workers than ``tasks`` (and cores)."""
        n = max(1, min(self.effective_workers(), tasks))
        if self.scheduler:
            return self
        if self.dask_local:
            return replace(self, dask_local=n)
        return replace(self, workers=n)


def _worker_init() -> None:
    """In each pool worker: die with the parent, and leave Ctrl-C to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's clean-up handler
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # no prctl: workers end when the pipe closes
            pass
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: cancel queued tasks and terminate running workers."""
    # ``_processes`` is private but has been the pid -> Process map since Python 3.8
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.join(timeout=5)


class _SerialExecutor:
    """The Executor interface, run in this process (easy to debug and profile)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            fut.set_exception(exc)
        return fut


@contextmanager
def open_executor(spec: ExecutorSpec) -> Iterator[Any]:
    """A context manager yielding an object with ``submit(fn, *args) -> future``."""
    if spec.kind == "serial":
        yield _SerialExecutor()
        return
    if spec.kind == "process":
        pool = ProcessPoolExecutor(
            max_workers=spec.effective_workers(), initializer=_worker_init
        )
        try:
            yield pool
        except BaseException:
            _stop_pool(pool)
            raise
        pool.shutdown(wait=True)
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ScenarioError(
            "--scheduler/--dask-local",
            None,
            "expected the Dask extra to be installed: pip install '.[distributed]'",
        ) from None
    if spec.scheduler:
        if not SCHEDULER_PATTERN.match(spec.scheduler):
            raise ScenarioError(
                "--scheduler",
                None,
                f"expected an address like tcp://host:8786, got {spec.scheduler!r}",
            )
        try:
            client = Client(spec.scheduler, timeout="10s")
        except (OSError, ValueError, TypeError) as exc:
            raise ScenarioError(
                "--scheduler", None, f"cannot reach Dask scheduler {spec.scheduler!r} ({exc})"
            ) from None
        with client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=spec.dask_local,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _progress(total: int, label: str, quiet: bool):
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, desc=label, unit="rep", disable=disable, leave=False)


def iter_tasks(
    executor: Any,
    fn: Callable[..., Any],
    arg_lists: Sequence[tuple[Any, ...]],
    weights: Sequence[int] | None = None,
    label: str = "replications",
    quiet: bool = False,
) -> Iterator[tuple[int, Any]]:
    """``(k, fn(*arg_lists[k]))`` as tasks finish (any order); a failed task re-raises.

    ``weights`` (e.g. replications per task) advance the progress bar. The
    serial executor runs each task only when the iteration reaches it, so a
    caller can store results one by one (sweeps resume from them).
    """
    weights = list(weights) if weights is not None else [1] * len(arg_lists)
    with _progress(sum(weights), label, quiet) as bar:
        if isinstance(executor, _SerialExecutor):
            for k, args in enumerate(arg_lists):
                yield k, executor.submit(fn, *args).result()
                bar.update(weights[k])
            return
        futures = [executor.submit(fn, *args) for args in arg_lists]
        index = {id(f): k for k, f in enumerate(futures)}
        if hasattr(executor, "gather"):  # dask
            from dask.distributed import as_completed as dask_as_completed

            done: Any = dask_as_completed(futures)
        else:
            done = as_completed(futures)
        for fut in done:
            k = index[id(fut)]
            try:
                result = fut.result()
            except BrokenProcessPool:
                raise RunFault(WORKER_LOST) from None
            except Exception as exc:
                if type(exc).__name__ == "KilledWorker":  # dask
                    raise RunFault(WORKER_LOST) from None
                raise
            yield k, result
            bar.update(weights[k])


def run_tasks(
    executor: Any,
    fn: Callable[..., Any],
    arg_lists: Sequence[tuple[Any, ...]],
    weights: Sequence[int] | None = None,
    label: str = "replications",
    quiet: bool = False,
) -> list[Any]:
    """Results of ``fn(*args)`` for each ``args`` in ``arg_lists``, in that order."""
    results: list[Any] = [None] * len(arg_lists)
    for k, result in iter_tasks(executor, fn, arg_lists, weights, label, quiet):
        results[k] = result
    return results


def chunk(indices: Sequence[int], workers: int, min_chunks_per_worker: int = 2) -> list[list[int]]:
    """Split replication indices into contiguous chunks, a few per worker.

    Bundling replications keeps each task at seconds rather than milliseconds
    (per-task overhead matters for short replications and for Dask).
    """
    n = len(indices)
    if n == 0:
        return []
    parts = max(1, min(n, workers * min_chunks_per_worker))
    size = -(-n // parts)
    return [list(indices[i : i + size]) for i in range(0, n, size)]
