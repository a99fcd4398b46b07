"""Parameter sweeps: run one scenario function over a grid, in parallel.

Any ``concurrent.futures.Executor`` works — the default process pool, a thread
pool, or a Dask ``distributed`` cluster's ``client.get_executor()`` — and the
results always come back in grid order, so a sweep is as reproducible as the
runs it is made of.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed


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
        context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
        executor = ProcessPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, len(points))), mp_context=context)
    elif not isinstance(executor, Executor) and not hasattr(executor, "submit"):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got {executor!r}")
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
        return [(p, f.result()) for p, f in zip(points, futures)]
    finally:
        if own:
            executor.shutdown()
