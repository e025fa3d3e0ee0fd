"""Compute chunks on a pool of worker threads and yield the results in their input order."""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TypeVar

import torch

Item = TypeVar("Item")
Result = TypeVar("Result")


def available_cpus() -> int:
    """Return the number of CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class _Failure:
    error: BaseException


def ordered_map(function: Callable[[Item], Result], items: Iterable[Item], workers: int) -> Iterator[Result]:
    """Yield ``function(item)`` for each of ``items``, in order, computed on ``workers`` threads.

    The items are drawn in the calling thread, one at a time and in order. Each worker
    takes the next waiting item, so while one worker has lost its core to another
    process, the others go on with the items after its own. At most ``2 * workers``
    items are queued, computing or waiting to be yielded, so memory does not grow with
    the number of items.

    Each worker runs torch with one intra-op thread: torch releases the GIL inside its
    operators, so the workers are the parallelism, and intra-op threads on top would
    only compete with them for the cores. The calling thread's thread count is restored
    when the workers stop. Closing this iterator early (a closed pipe, Ctrl-C) drops the
    queued items and waits for the running ones.
    """
    tasks: queue.Queue[tuple[int, Item] | None] = queue.Queue()
    results: dict[int, Any] = {}
    ready = threading.Condition()
    threads_before = torch.get_num_threads()

    def work() -> None:
        torch.set_num_threads(1)
        try:
            while (task := tasks.get()) is not None:
                index, item = task
                try:
                    value: Any = function(item)
                except BaseException as error:  # handed to the consuming thread, which raises it
                    value = _Failure(error)
                with ready:
                    results[index] = value
                    ready.notify_all()
        finally:
            # in torch 2.13.0, torch.set_num_threads in a new thread also sets the count that later new threads start with
            torch.set_num_threads(threads_before)

    def take(index: int) -> Result:
        with ready:
            while index not in results:
                ready.wait()
            value = results.pop(index)
        if isinstance(value, _Failure):
            raise value.error
        return value

    pool = [threading.Thread(target=work, name=f"ganpat-worker-{i}", daemon=True) for i in range(workers)]
    for thread in pool:
        thread.start()
    submitted = taken = 0
    try:
        for item in items:
            tasks.put((submitted, item))
            submitted += 1
            if submitted - taken >= 2 * workers:
                yield take(taken)
                taken += 1
        while taken < submitted:
            yield take(taken)
            taken += 1
    finally:
        # drop the items no worker has started, then stop every worker after its current item
        while True:
            try:
                tasks.get_nowait()
            except queue.Empty:
                break
        for _ in pool:
            tasks.put(None)
        for thread in pool:
            thread.join()
        torch.set_num_threads(threads_before)
