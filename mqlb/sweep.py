"""Running simulations in parallel: parameter sweeps, and several systems on one workload.

Any ``concurrent.futures.Executor`` works — the default process pool, a thread
pool, or a Dask ``distributed`` cluster's ``client.get_executor()`` — and the
results always come back in order, so a parallel run is as reproducible as the
runs it is made of.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
from collections.abc import Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from .simulate import simulate

_shared: ProcessPoolExecutor | None = None


def grid_points(grid) -> list:
    """A grid as a list of parameter dicts: a dict of lists becomes their
    Cartesian product (first key varies slowest); a list of dicts is kept."""
    if isinstance(grid, dict):
        for key, values in grid.items():
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
                raise TypeError(f"grid[{key!r}] must be a list of values, got {values!r}")
        keys = list(grid)
        return [dict(zip(keys, combo)) for combo in itertools.product(*(list(grid[k]) for k in keys))]
    if isinstance(grid, (list, tuple)) and all(isinstance(p, dict) for p in grid):
        return [dict(p) for p in grid]
    raise TypeError(f"grid must be a dict of lists or a list of dicts, got {grid!r}")


def sweep(fn, grid, *, executor: Executor | None = None, progress: bool = True, desc: str = "sweep") -> list:
    """Run ``fn(**params)`` for every point of ``grid``; return
    ``[(params, result), ...]`` in grid order.

    executor: where to run; by default a process pool with one worker per core.
    progress: show a progress bar (tqdm; a widget in notebooks).
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function, got {fn!r}")
    points = grid_points(grid)
    own = executor is None
    if own:
        try:
            pickle.dumps(fn)
        except Exception as exc:
            raise TypeError(f"fn must be a module-level function so worker processes can run it, got {fn!r}") from exc
        executor = _process_pool(min(os.cpu_count() or 1, len(points)))
    else:
        _check_executor(executor)
    try:
        futures = [executor.submit(fn, **p) for p in points]
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(futures), desc=desc)
        for _ in as_completed(futures):
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
        return [(p, _result(f, fn, p)) for p, f in zip(points, futures)]
    finally:
        if own:
            executor.shutdown()


def simulate_each(systems: Mapping, workload, *, executor: Executor | None = None, **options) -> dict:
    """Run every system of ``systems`` (a dict name -> system) on the same
    ``workload``; return a dict name -> :class:`Result`, in the same order.

    options: passed to :func:`simulate` (``client``, ``seed``, ``until``,
        ``sample_every``, ``failures``), the same for every system.
    executor: run the systems side by side there, e.g. :func:`shared_pool`;
        by default one after the other in this process. The results are the
        same either way, bit for bit.
    """
    if not isinstance(systems, Mapping):
        raise TypeError(f"systems must be a dict of name -> system, got {type(systems).__name__}")
    if executor is None:
        return {name: simulate(system, workload, **options) for name, system in systems.items()}
    _check_executor(executor)
    futures = {name: executor.submit(simulate, system, workload, **options) for name, system in systems.items()}
    return {name: _result(future, simulate, {"system": name}) for name, future in futures.items()}


def _result(future, fn, params):
    """A future's result; a dead worker process is reported with what it was running."""
    try:
        return future.result()
    except BrokenProcessPool as error:
        name = getattr(fn, "__name__", repr(fn))
        raise BrokenProcessPool(
            f"a worker process died while running {name}(**{params!r}) — killed, out of memory or crashed in "
            f"native code — and the pool stopped; call it in this process to see what happens") from error


def shared_pool() -> Executor:
    """A process pool with one worker per core, started on first use and kept
    for the session.

    For interactive figures that run a few simulations per update: starting
    worker processes costs far more than handing them a simulation, so an
    update must not start a pool of its own. Hand it module-level functions
    (such as :func:`simulate`): with the fork start method the workers know
    only what existed when they were started.
    """
    global _shared
    if _shared is None or getattr(_shared, "_broken", False):
        _shared = _process_pool(os.cpu_count() or 1)
    return _shared


def _process_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool; forked workers where the platform can fork (quick to start)."""
    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    return ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context)


def _check_executor(executor) -> None:
    if not isinstance(executor, Executor) and not hasattr(executor, "submit"):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got {executor!r}")
