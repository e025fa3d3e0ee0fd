"""`ganpat generate`: draw samples in fixed-size chunks and stream them to csv, json, jsonl or npy."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

import numpy as np
import torch

from ganpat.pattern import Pattern
from ganpat.persistence import LoadedGenerator, atomic_write

FORMATS = ("csv", "json", "jsonl", "npy")
# samples generated and written at a time; memory use does not grow with -n
CHUNK = 65_536


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
    """Yield exactly ``n`` generated samples, ``chunk`` at a time, from seeded normal noise."""
    noise = torch.Generator().manual_seed(seed)
    remaining = n
    with torch.no_grad():
        while remaining > 0:
            size = min(chunk, remaining)
            z = torch.randn(size, loaded.latent_size, generator=noise).to(device)
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
    """Streams row chunks in one format to a binary stream."""

    def __init__(self, stream: IO[bytes], fmt: str, columns: Columns, total: int) -> None:
        self.stream = stream
        self.fmt = fmt
        self.columns = columns
        self.total = total
        self.first = True

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
        if self.fmt == "csv":
            self.stream.write(self._csv(block).encode())
            return
        records = self._records(block)
        if self.fmt == "jsonl":
            self.stream.write("".join(line + "\n" for line in records).encode())
            return
        text = ",\n".join(records)
        if text:
            self.stream.write((("\n" if self.first else ",\n") + text).encode())
            self.first = False

    def end(self) -> None:
        if self.fmt == "json":
            self.stream.write(b"\n]\n" if not self.first else b"]\n")

    def _cells(self, block: np.ndarray) -> list[list[str]]:
        if self.columns.integer:
            invalid = self.columns.invalid_value
            return [[("invalid" if v == invalid else str(v)) for v in row] for row in block.tolist()]
        return [[repr(v) for v in row] for row in block.astype(np.float32).tolist()]

    def _csv(self, block: np.ndarray) -> str:
        if len(block) == 0:
            return ""
        if self.columns.integer:
            cells = self._cells(block)
        else:
            cells = [[f"{v:.7g}" for v in row] for row in block.tolist()]
        return "".join(",".join(row) + "\n" for row in cells)

    def _records(self, block: np.ndarray) -> list[str]:
        names = self.columns.names
        if self.columns.integer:
            invalid = self.columns.invalid_value
            values = [[None if v == invalid else v for v in row] for row in block.tolist()]
        else:
            values = [[float(f"{v:.7g}") for v in row] for row in block.tolist()]
        return [json.dumps(dict(zip(names, row))) for row in values]


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
        for samples in sample_chunks(loaded, n, seed, device):
            writer.write(rows(samples, pattern, raw))
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
