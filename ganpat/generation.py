"""`ganpat generate`: draw samples in fixed-size chunks and stream them to csv, json, jsonl or npy."""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import queue
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np
import torch

from ganpat.chunk_workers import available_cpus, ordered_map
from ganpat.pattern import Pattern
from ganpat.persistence import LoadedGenerator, atomic_write
from ganpat.text_rows import TextRows

FORMATS = ("csv", "json", "jsonl", "npy")
# samples generated and written at a time; memory use does not grow with -n
CHUNK = 16_384
# mallopt parameter numbers from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# rows of the latent batch that generation_workers runs twice to look for random draws
PROBE_ROWS = 64

log = logging.getLogger(__name__)


@dataclass
class Columns:
    """Names of the written values and, for decoded integers, the marker of an invalid sample."""

    names: list[str]
    invalid_value: float | None
    integer: bool


def noise_chunks(latent_size: int, n: int, seed: int, chunk: int = CHUNK) -> Iterator[torch.Tensor]:
    """Yield the latent vectors of ``n`` samples, ``chunk`` at a time, from seeded normal noise.

    Noise is always drawn in whole chunks, because torch.randn's output for a given
    seed depends on the size requested. So the first k samples are the same for
    every ``n >= k``. This also seeds torch's global generator with ``seed``, for
    generators that draw noise inside (a Gumbel-softmax head).
    """
    noise = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    remaining = n
    while remaining > 0:
        size = min(chunk, remaining)
        yield torch.randn(chunk, latent_size, generator=noise)[:size]
        remaining -= size


def sample_chunks(
    loaded: LoadedGenerator,
    n: int,
    seed: int,
    device: torch.device | str = "cpu",
    chunk: int = CHUNK,
) -> Iterator[torch.Tensor]:
    """Yield exactly ``n`` generated samples, ``chunk`` at a time, from the noise of :func:`noise_chunks`."""
    with torch.no_grad():
        for z in noise_chunks(loaded.latent_size, n, seed, chunk):
            yield loaded.module(z.to(device)).float().cpu()


def rows(samples: torch.Tensor, pattern: Pattern | None, raw: bool) -> np.ndarray:
    """Return the rows to write: decoded values, or the generator's raw output."""
    if raw or pattern is None:
        return samples.reshape(len(samples), -1).numpy()
    return np.asarray(pattern.decode(samples))


def columns_for(pattern: Pattern | None, width: int, raw: bool) -> Columns:
    if raw or pattern is None or not pattern.columns:
        return Columns([f"v{i}" for i in range(width)], None, False)
    integer = pattern.invalid_value is not None
    return Columns(list(pattern.columns), pattern.invalid_value, integer)


class Writer:
    """Streams row chunks in one format to a binary stream.

    Text formats print each float as ``"%.7g" % value`` does (float32 carries about 7
    significant digits) and an invalid integer as ``invalid`` (csv) or null (JSON).
    JSON has no NaN or infinity, so those are written as null.
    """

    def __init__(self, stream: IO[bytes], fmt: str, columns: Columns, total: int) -> None:
        self.stream = stream
        self.fmt = fmt
        self.columns = columns
        self.total = total
        self.first = True
        self.text: TextRows | None = None
        integer, marker = columns.integer, columns.invalid_value
        if fmt == "csv":
            pieces = [""] + [","] * (len(columns.names) - 1) + ["\n"]
            self.text = TextRows(pieces, integer, marker, "invalid", None)
        elif fmt in ("json", "jsonl"):
            keys = [json.dumps(name) + ": " for name in columns.names]
            pieces = ["{" + keys[0]] + [", " + key for key in keys[1:]] + ["}" + (",\n" if fmt == "json" else "\n")]
            self.text = TextRows(pieces, integer, marker, "null", "null")

    def begin(self) -> None:
        if self.fmt == "csv":
            self.stream.write((",".join(self.columns.names) + "\n").encode())
        elif self.fmt == "json":
            self.stream.write(b"[")
        elif self.fmt == "npy":
            dtype = np.dtype(np.int64 if self.columns.integer else np.float32)
            header = {
                "descr": np.lib.format.dtype_to_descr(dtype),
                "fortran_order": False,
                "shape": (self.total, len(self.columns.names)),
            }
            np.lib.format.write_array_header_2_0(self.stream, header)

    def write(self, block: np.ndarray) -> None:
        if self.fmt == "npy":
            dtype = np.int64 if self.columns.integer else np.float32
            # a view of the block's own memory when it is already contiguous and of this type
            self.stream.write(memoryview(np.ascontiguousarray(block, dtype=dtype)).cast("B"))
            return
        if len(block) == 0:
            return
        assert self.text is not None
        text = self.text.encode(block)
        if self.fmt == "json":
            # records are separated by ",\n", so a block's last record waits for the next block's separator
            self.stream.write(b"\n" if self.first else b",\n")
            self.stream.write(memoryview(text)[: -len(b",\n")])
            self.first = False
            return
        self.stream.write(text)

    def end(self) -> None:
        if self.fmt == "json":
            self.stream.write(b"\n]\n" if not self.first else b"]\n")


@dataclass
class _Failure:
    error: BaseException


def prefetched(chunks: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """Yield the items of ``chunks``, computed in a background thread up to ``depth`` items ahead.

    torch and numpy release the GIL inside their kernels, so the next chunk is
    generated while the calling thread formats and writes the current one. Closing
    this iterator early (a closed pipe, Ctrl-C) stops the thread.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in chunks:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consuming thread, which raises it
            put(_Failure(error))
            return
        put(done)

    thread = threading.Thread(target=produce, name="ganpat-generate", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is done:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


def write_samples(
    loaded: LoadedGenerator,
    pattern: Pattern | None,
    n: int,
    fmt: str,
    output: str,
    seed: int,
    raw: bool,
    device: torch.device | str = "cpu",
    workers: int | None = None,
) -> None:
    """Generate ``n`` samples and write them to the file ``output``, or stdout for ``-``.

    On the CPU, up to ``workers`` threads (default: torch's thread count) compute
    whole chunks at once; :func:`generation_workers` decides when one thread is used instead.
    The written bytes are the same for every worker count.
    """
    width = _output_width(loaded, pattern, raw)
    columns = columns_for(pattern, width, raw)
    threads = generation_workers(loaded, n, device, workers)

    def stream_to(stream: IO[bytes]) -> None:
        writer = Writer(stream, fmt, columns, n)
        writer.begin()
        for block in row_blocks(loaded, pattern, n, seed, raw, device, threads):
            writer.write(block)
        writer.end()

    if output == "-":
        stream_to(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return

    def write_file(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            stream_to(handle)

    atomic_write(Path(output), write_file)


def keep_freed_memory() -> None:
    """Stop glibc's malloc from handing freed chunk buffers back to the kernel (Linux with glibc only).

    Each chunk's tensors are freed and the next chunk's allocated again. By default
    glibc serves blocks this large with mmap, or trims them off the heap, so every
    chunk faults its pages in afresh. For the default exponential generator (two
    64-wide hidden layers, 16384-row chunks, torch 2.13.0+cpu on a 2-core AMD EPYC
    VM) those faults took as much system time as the generator's own user time.
    Memory kept this way is bounded by one chunk's working set, so peak memory still
    does not grow with the sample count. The setting applies to the whole process,
    so the command line calls this, not the library.
    """
    try:
        os.confstr("CS_GNU_LIBC_VERSION")
        mallopt = ctypes.CDLL(None).mallopt
    except (ValueError, OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)  # glibc's maximum on 64-bit systems
    mallopt(_M_TRIM_THRESHOLD, 128 * 2**20)


def generation_workers(loaded: LoadedGenerator, n: int, device: torch.device | str, requested: int | None) -> int:
    """Return the number of threads that generate ``n`` samples: ``requested``, or 1.

    The default is torch's own thread count (which OMP_NUM_THREADS sets) capped at the
    CPUs this process may use, so a user who limits torch's threads limits these too.

    It is 1 off the CPU and for a single chunk. It is 1 as well for a generator that
    draws random numbers itself, as a Gumbel-softmax head does from torch's global
    generator, because its output would then depend on the order of the threads.
    """
    if requested is not None and requested < 1:
        raise ValueError(f"workers must be at least 1, not {requested}")
    default = min(torch.get_num_threads(), available_cpus())
    count = min(requested or default, math.ceil(n / CHUNK))
    if count <= 1 or torch.device(device).type != "cpu":
        return 1
    if draws_randomness(loaded):
        log.debug("the generator draws random numbers, so one thread generates every chunk in turn")
        return 1
    log.debug("generating on %d worker threads", count)
    return count


def draws_randomness(loaded: LoadedGenerator) -> bool:
    """Run the generator twice on one probe batch; return whether it drew from torch's global CPU generator
    or gave two different outputs.

    The global generator's state is restored afterwards.
    """
    # NOTE: a generator whose random draws depend on its input could skip them on the probe batch.
    probe = torch.randn(PROBE_ROWS, loaded.latent_size, generator=torch.Generator().manual_seed(0))
    state = torch.get_rng_state()
    try:
        with torch.inference_mode():
            first = loaded.module(probe)
            second = loaded.module(probe)
        drew = not torch.equal(torch.get_rng_state(), state)
    finally:
        torch.set_rng_state(state)
    # NaN != NaN, so compare NaN positions separately
    same = first.shape == second.shape and bool(((first == second) | (first.isnan() & second.isnan())).all())
    return drew or not same


def row_blocks(
    loaded: LoadedGenerator,
    pattern: Pattern | None,
    n: int,
    seed: int,
    raw: bool,
    device: torch.device | str,
    workers: int,
) -> Iterator[np.ndarray]:
    """Yield the rows to write, chunk by chunk in order, computed ahead of the caller on other threads."""
    if workers == 1:
        return prefetched(_row_chunks(loaded, pattern, n, seed, raw, device))

    def compute(z: torch.Tensor) -> np.ndarray:
        # inference mode is per thread, so each worker enters it itself
        with torch.inference_mode():
            return rows(loaded.module(z).float().cpu(), pattern, raw)

    return ordered_map(compute, noise_chunks(loaded.latent_size, n, seed), workers)


def _row_chunks(
    loaded: LoadedGenerator, pattern: Pattern | None, n: int, seed: int, raw: bool, device: torch.device | str
) -> Iterator[np.ndarray]:
    # inference mode also skips the version counters and view tracking that no_grad keeps
    with torch.inference_mode():
        for samples in sample_chunks(loaded, n, seed, device):
            yield rows(samples, pattern, raw)


def _output_width(loaded: LoadedGenerator, pattern: Pattern | None, raw: bool) -> int:
    if not raw and pattern is not None and pattern.columns:
        return len(pattern.columns)
    shape = loaded.metadata.get("sample_shape")
    if shape:
        return int(np.prod(shape))
    if pattern is not None:
        return int(np.prod(pattern.sample_shape))
    with torch.no_grad():
        return int(loaded.module(torch.zeros(1, loaded.latent_size)).reshape(1, -1).shape[1])
