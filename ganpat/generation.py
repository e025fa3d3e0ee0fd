"""`ganpat generate`: draw samples in fixed-size chunks and stream them to csv, json, jsonl or npy."""

from __future__ import annotations

import ctypes
import json
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

from ganpat.pattern import Pattern
from ganpat.persistence import LoadedGenerator, atomic_write

FORMATS = ("csv", "json", "jsonl", "npy")
# samples generated and written at a time; memory use does not grow with -n
CHUNK = 16_384
# mallopt parameter numbers from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


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


# Text of one float in a text row: at most 13 bytes ("-1.234567e-38"), NUL-padded. A packed
# struct, so that the formatter writes whole 8-byte words instead of single characters.
FLOAT_CELL = np.dtype([("sign", "u1"), ("head", "<u8"), ("tail", "<u4")])
# text of one integer or its invalid marker: "-9223372036854775808" is the longest
INTEGER_CELL = np.dtype("S20")


def _digit_words(width: int) -> np.ndarray:
    """Return, for each i below 10**width, the ASCII digits of i zero-padded to ``width`` as a little-endian word."""
    numbers = np.arange(10**width, dtype=np.uint64)
    words = np.zeros(10**width, dtype=np.uint64)
    for position in range(width):
        digit = numbers // np.uint64(10 ** (width - 1 - position)) % np.uint64(10)
        words |= (digit + np.uint64(ord("0"))) << np.uint64(8 * position)
    return words


def _trailing_zeros(width: int) -> np.ndarray:
    """Return, for each i below 10**width, how many zeros end i zero-padded to ``width`` digits."""
    numbers = np.arange(10**width)
    return sum((numbers % 10**k == 0).astype(np.int64) for k in range(1, width + 1))


_DIGITS_3, _DIGITS_4 = _digit_words(3), _digit_words(4)
_TRAILING_3, _TRAILING_4 = _trailing_zeros(3), _trailing_zeros(4)
# _BYTE_MASK[k] keeps the low k bytes of a word
_BYTE_MASK = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)
# _POWER_OF_10[k + 1] == 10**k exactly, from decimal literals
_POWER_OF_10 = np.array([float(f"1e{k}") for k in range(-1, 14)])
# "0." and then z zeros, for the decimals of 0.0001 <= |v| < 1
_FRACTION_PREFIX = np.array([int.from_bytes(b"0." + b"0" * z, "little") for z in range(4)], dtype=np.uint64)


def format_floats(values: np.ndarray, out: np.ndarray, nonfinite: str | None = None) -> None:
    """Write each value's ``"%.7g" % value`` text into ``out``, an array of FLOAT_CELL.

    Values with decimal exponents -4 to 6 (the fixed-point form of %g) are formatted
    with whole-array integer arithmetic. Because a float32 times 10**k is exact in
    float64 for k up to 12, ``np.rint`` rounds it to 7 digits exactly as Python's
    ``%`` does: correctly, with ties to even. Zero, other exponents, NaN and infinity
    are rare in generated samples, so they go through Python's ``%`` operator.
    ``nonfinite``, when given, replaces the text of NaN and infinity.
    """
    # a signalling NaN sets the invalid-operation flag when widened; it still formats as nan
    with np.errstate(invalid="ignore"):
        value = np.asarray(values, dtype=np.float32).astype(np.float64)
    magnitude = np.abs(value)

    # decimal exponent and the 7 significant digits, corrected where log10 or rounding moved them
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(magnitude))
    fast = (exponent >= -5) & (exponent <= 7)
    magnitude = np.where(fast, magnitude, 1.0)
    exponent = np.where(fast, exponent, 0).astype(np.int64)
    digits = np.rint(magnitude * _POWER_OF_10[7 - exponent])
    for wrong, step in ((digits < 1e6, -1), (digits >= 1e7, 1)):
        if wrong.any():
            exponent += step * wrong
            digits = np.where(wrong, np.rint(magnitude * _POWER_OF_10[7 - exponent]), digits)
    fast &= (exponent >= -4) & (exponent <= 6)
    high, low = np.divmod(np.where(fast, digits, 1e6).astype(np.int64), 10_000)
    text = _DIGITS_3[high] | (_DIGITS_4[low] << np.uint64(24))
    trailing = np.where(low == 0, 4 + _TRAILING_3[high], _TRAILING_4[low])

    # |v| >= 1: the integer digits, ".", then the decimals up to the last nonzero one
    integer_digits = np.clip(exponent + 1, 1, 7).astype(np.uint64)
    shift = integer_digits * np.uint64(8)
    point = np.uint64(ord(".")) << shift
    whole = (text & _BYTE_MASK[integer_digits]) | point | ((text >> shift) << (shift + np.uint64(8)))
    decimals = np.maximum(6 - exponent - trailing, 0)
    whole_length = integer_digits.astype(np.int64) + np.where(decimals > 0, decimals + 1, 0)

    # |v| < 1: "0.", zeros, then the significant digits, spilling past the first word
    zeros = np.clip(-exponent - 1, 0, 3)
    prefix_bits = (zeros + 2).astype(np.uint64) * np.uint64(8)
    fraction = _FRACTION_PREFIX[zeros] | (text << prefix_bits)
    spill = text >> (np.uint64(64) - prefix_bits)
    fraction_length = zeros + 9 - trailing

    below_one = exponent < 0
    length = np.where(below_one, fraction_length, whole_length)
    out["sign"] = np.where(np.signbit(value), ord("-"), 0)
    out["head"] = np.where(below_one, fraction, whole) & _BYTE_MASK[np.minimum(length, 8)]
    out["tail"] = np.where(below_one, spill, 0) & _BYTE_MASK[np.maximum(length - 8, 0)]

    slow = np.flatnonzero(~fast)
    if len(slow):
        texts = [nonfinite if nonfinite and not math.isfinite(v) else "%.7g" % v for v in value[slow].tolist()]
        out[slow] = np.array([t.encode() for t in texts], dtype="S13").view(FLOAT_CELL)


def format_integers(values: np.ndarray, marker: float | None, invalid: str) -> np.ndarray:
    """Return each value's decimal text as INTEGER_CELL, ``invalid`` for the invalid marker, through a lookup table when the range is small."""
    values = np.asarray(values, dtype=np.int64).ravel()
    low, high = int(values.min()), int(values.max())
    if high - low > 65_536:
        return np.array([invalid if v == marker else str(v) for v in values.tolist()], dtype=INTEGER_CELL)
    table = np.array([str(v) for v in range(low, high + 1)], dtype=INTEGER_CELL)
    if marker is not None and low <= marker <= high:
        table[int(marker) - low] = invalid
    return table[values - low]


class TextRows:
    """Text encoder for blocks of rows: fixed literal pieces around one cell per column.

    Each block is laid out in a reused structured array, one record per row, with the
    literals in fixed fields and each cell NUL-padded to a fixed width. Deleting the
    NUL bytes leaves the text, because literals and cell texts contain no NUL byte
    (json.dumps escapes one in a column name).
    """

    def __init__(self, pieces: list[str], integer: bool, marker: float | None, invalid: str, nonfinite: str | None) -> None:
        fields: list[tuple[str, Any]] = []
        self.literals: dict[str, bytes] = {}
        for index, piece in enumerate(pieces):
            if index > 0:
                fields.append((f"cell{index - 1}", INTEGER_CELL if integer else FLOAT_CELL))
            if piece:
                self.literals[f"text{index}"] = piece.encode()
                fields.append((f"text{index}", f"S{len(piece.encode())}"))
        self.dtype = np.dtype(fields)
        self.columns = len(pieces) - 1
        self.integer = integer
        self.marker = marker
        self.invalid = invalid
        self.nonfinite = nonfinite
        self.buffer = np.zeros(0, self.dtype)

    def encode(self, block: np.ndarray) -> bytes:
        """Return the text of the rows of ``block``, a 2-D array with one column per cell."""
        if len(self.buffer) < len(block):
            self.buffer = np.zeros(len(block), self.dtype)
            for name, literal in self.literals.items():
                self.buffer[name] = literal
        rows = self.buffer[: len(block)]
        if self.integer:
            cells = format_integers(block, self.marker, self.invalid).reshape(len(block), self.columns)
            for column in range(self.columns):
                rows[f"cell{column}"] = cells[:, column]
        else:
            for column in range(self.columns):
                format_floats(block[:, column], rows[f"cell{column}"], self.nonfinite)
        return rows.tobytes().translate(None, b"\0")


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
) -> None:
    """Generate ``n`` samples and write them to the file ``output``, or stdout for ``-``."""
    width = _output_width(loaded, pattern, raw)
    columns = columns_for(pattern, width, raw)

    def stream_to(stream: IO[bytes]) -> None:
        writer = Writer(stream, fmt, columns, n)
        writer.begin()
        for block in prefetched(_row_chunks(loaded, pattern, n, seed, raw, device)):
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
