"""Text of sample rows for csv and JSON output, formatted with whole-array numpy arithmetic."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

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
