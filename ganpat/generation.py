"""`ganpat generate`: draw samples in fixed-size chunks and stream them to csv, json, jsonl or npy."""

from __future__ import annotations

import json
import math
import queue
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np
import torch

from ganpat.pattern import Pattern
from ganpat.persistence import LoadedGenerator, atomic_write

FORMATS = ("csv", "json", "jsonl", "npy")
# samples generated and written at a time; memory use does not grow with -n
CHUNK = 16_384


@dataclass
class Columns:
    """Names of the written values and, for decoded integers, the marker of an invalid sample."""

    names: list[str]
    invalid_value: float | None
    integer: bool


def sample_chunks(
    loaded: LoadedGenerator,
    n: int,
    seed: int,
    device: torch.device | str = "cpu",
    chunk: int = CHUNK,
) -> Iterator[torch.Tensor]:
    """Yield exactly ``n`` generated samples, ``chunk`` at a time, from seeded normal noise.

    Noise is always drawn in whole chunks, because torch.randn's output for a given
    seed depends on the size requested. So the first k samples are the same for
    every ``n >= k``.
    """
    noise = torch.Generator().manual_seed(seed)
    # generators that draw noise inside (a Gumbel-softmax head) use the global generator
    torch.manual_seed(seed)
    remaining = n
    with torch.no_grad():
        while remaining > 0:
            size = min(chunk, remaining)
            z = torch.randn(chunk, loaded.latent_size, generator=noise)[:size].to(device)
            yield loaded.module(z).float().cpu()
            remaining -= size


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

    Text formats print each float with ``%.7g`` (float32 carries about 7 significant
    digits) through one ``%`` template per chunk, which formats the whole chunk in C
    instead of one Python call per value. JSON gets null for an invalid integer and
    falls back to ``json.dumps`` for a chunk that contains NaN or infinity.
    """

    def __init__(self, stream: IO[bytes], fmt: str, columns: Columns, total: int) -> None:
        self.stream = stream
        self.fmt = fmt
        self.columns = columns
        self.total = total
        self.first = True
        # text of each cell of a JSON record, with a %-placeholder for its value
        self.json_fields = [json.dumps(name).replace("%", "%%") + ": %s" for name in columns.names]

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
            self.stream.write(np.ascontiguousarray(block, dtype=dtype).tobytes())
            return
        if len(block) == 0:
            return
        if self.fmt == "csv":
            self.stream.write(self._csv(block).encode())
            return
        if self.fmt == "jsonl":
            self.stream.write(self._json_lines(block, "\n").encode())
            return
        text = self._json_lines(block, ",\n")
        self.stream.write((("\n" if self.first else ",\n") + text[: -len(",\n")]).encode())
        self.first = False

    def end(self) -> None:
        if self.fmt == "json":
            self.stream.write(b"\n]\n" if not self.first else b"]\n")

    def _csv(self, block: np.ndarray) -> str:
        if self.columns.integer:
            row = ",".join(["%s"] * block.shape[1]) + "\n"
            values = self._integer_cells(block, "invalid")
        else:
            row = ",".join(["%.7g"] * block.shape[1]) + "\n"
            values = block.astype(np.float32).ravel().tolist()
        return (row * len(block)) % tuple(values)

    def _integer_cells(self, block: np.ndarray, invalid: str) -> list[str]:
        """Return each value as text, ``invalid`` for the invalid marker, through a lookup table when the range is small."""
        values = np.asarray(block, dtype=np.int64)
        low, high = int(values.min()), int(values.max())
        marker = self.columns.invalid_value
        if high - low > 65_536:
            return [invalid if v == marker else str(v) for v in values.ravel().tolist()]
        table = np.array([str(v) for v in range(low, high + 1)], dtype=object)
        if marker is not None and low <= marker <= high:
            table[int(marker) - low] = invalid
        return table[(values - low).ravel()].tolist()

    def _json_lines(self, block: np.ndarray, end: str) -> str:
        if not self.columns.integer and not np.isfinite(block).all():
            # JSON has no NaN or infinity, so a non-finite value is written as null
            values = [[float(f"{v:.7g}") if math.isfinite(v) else None for v in row] for row in block.tolist()]
            records = [json.dumps(dict(zip(self.columns.names, row))) for row in values]
            return "".join(record + end for record in records)
        template = "{" + ", ".join(self.json_fields) + "}" + end
        if self.columns.integer:
            values = self._integer_cells(block, "null")
        else:
            template = template.replace(": %s", ": %.7g")
            values = block.astype(np.float32).ravel().tolist()
        return (template * len(block)) % tuple(values)


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
) -> None:
    """Generate ``n`` samples and write them to the file ``output``, or stdout for ``-``."""
    width = _output_width(loaded, pattern, raw)
    columns = columns_for(pattern, width, raw)

    def stream_to(stream: IO[bytes]) -> None:
        writer = Writer(stream, fmt, columns, n)
        writer.begin()
        chunks = (rows(samples, pattern, raw) for samples in sample_chunks(loaded, n, seed, device))
        for block in prefetched(chunks):
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
