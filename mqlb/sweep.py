"""Running simulations in parallel: parameter sweeps, and several systems on one workload.

Any ``concurrent.futures.Executor`` works — the default process pool, a thread
pool, or a Dask ``distributed`` cluster's ``client.get_executor()`` — and the
results always come back in order, so a parallel run is as reproducible as the
runs it is made of.

The default pool is loky's reusable executor: its workers are started afresh
(fork followed by exec, never a bare fork of the caller, which in a Jupyter
kernel has threads of its own and may deadlock in the child), kept warm
between calls and shut down after :data:`IDLE_TIMEOUT_S` without work. Tasks
go to them through cloudpickle, so functions defined in a notebook (or as a
lambda) run there too: they travel by value, with the globals they use.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from contextvars import ContextVar

import cloudpickle
from loky import get_reusable_executor

from .simulate import simulate

#: Idle workers of the shared pool shut down after this long without work, s.
IDLE_TIMEOUT_S = 600

# Where simulate_each runs when it is given no executor: a function returning
# the executor (None: one system after the other in this process).
_DEFAULT_POOL: ContextVar[Callable[[], Executor] | None] = ContextVar("mqlb_default_pool", default=None)


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

    executor: where to run; by default :func:`shared_pool` (one worker per core).
    progress: show a progress bar (tqdm; a widget in notebooks).
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function, got {fn!r}")
    points = grid_points(grid)
    if executor is None:
        try:
            cloudpickle.dumps(fn)
        except Exception as exc:
            raise TypeError(f"fn must be a function that can be sent to worker processes "
                            f"(cloudpickle), got {fn!r}: {exc}") from exc
        executor = shared_pool()
    else:
        _check_executor(executor)
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


def simulate_each(systems: Mapping, workload, *, executor: Executor | None = None, **options) -> dict:
    """Run every system of ``systems`` (a dict name -> system) on the same
    ``workload``; return a dict name -> :class:`Result`, in the same order.

    options: passed to :func:`simulate` (``client``, ``seed``, ``until``,
        ``sample_every``, ``failures``), the same for every system.
    executor: run the systems side by side there, e.g. :func:`shared_pool`;
        by default one after the other in this process, or, inside a
        :func:`side_by_side` block, on that block's pool. The results are the
        same either way, bit for bit.
    """
    if not isinstance(systems, Mapping):
        raise TypeError(f"systems must be a dict of name -> system, got {type(systems).__name__}")
    if executor is None and _DEFAULT_POOL.get() is not None and len(systems) > 1:
        executor = _DEFAULT_POOL.get()()
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
    """The process pool with one worker per core that :func:`sweep` uses by
    default: loky's reusable executor, started on first use and kept while in
    use (a broken one is replaced).

    For interactive figures that run a few simulations per update: starting
    worker processes costs far more than handing them a simulation, so an
    update must not start a pool of its own. Any function can be handed to it,
    also one defined in a notebook after the pool started (cloudpickle).
    """
    return get_reusable_executor(max_workers=os.cpu_count() or 1, timeout=IDLE_TIMEOUT_S)


@contextmanager
def side_by_side(pool: Callable[[], Executor] | None = None):
    """Within the block, :func:`simulate_each` without an ``executor`` runs its
    systems side by side on ``pool()`` (by default :func:`shared_pool`).

    ``pool`` is called only when such a run happens, so a block that runs
    nothing in parallel starts no worker process. An explorer runs its model
    in such a block: the chapter's experiment names no executor.
    """
    if pool is None:
        pool = shared_pool
    if not callable(pool):
        raise TypeError(f"pool must be a function returning an Executor (e.g. mqlb.shared_pool), got {pool!r}")
    token = _DEFAULT_POOL.set(pool)
    try:
        yield
    finally:
        _DEFAULT_POOL.reset(token)


def _check_executor(executor) -> None:
    if not isinstance(executor, Executor) and not hasattr(executor, "submit"):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got {executor!r}")
