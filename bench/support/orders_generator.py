"""The orders table of src/flightdeck/frame/generate.cc, reproduced in Python.

generate_orders(rows, seed=42, null_fraction=0.05) returns the same pyarrow
table as frame::GenerateOrders with the same options, value for value, when
the C++ side is built with libstdc++ (GCC >= 11): it replays std::mt19937_64
and libstdc++'s uniform_int_distribution (Lemire's method over a 64-bit
engine) and generate_canonical<double> (one 64-bit draw / 2^64), drawing in
the same order per row:
  customer, amount-null?, [amount], category-null?, [category], ts-null?
The engine runs vectorized in numpy; the per-row walk is plain Python, about
a second per million rows.
"""

from typing import List

import numpy as np
import pyarrow as pa

CATEGORIES = ["books", "games", "garden", "grocery", "music", "outdoor", "tools", "toys"]
EPOCH_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z

SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False),
    pa.field("customer", pa.int64(), nullable=False),
    pa.field("amount", pa.float64()),
    pa.field("category", pa.utf8()),
    pa.field("ts", pa.timestamp("us", tz="UTC")),
])

_N, _M = 312, 156
_MATRIX_A = np.uint64(0xB5026F5AA96619E9)
_UPPER = np.uint64(0xFFFFFFFF80000000)
_LOWER = np.uint64(0x7FFFFFFF)
_MASK64 = (1 << 64) - 1


class MT19937_64:
    """std::mt19937_64, producing blocks of 312 outputs at a time."""

    def __init__(self, seed: int = 5489):
        state = [seed & _MASK64]
        for i in range(1, _N):
            prev = state[-1]
            state.append((6364136223846793005 * (prev ^ (prev >> 62)) + i) & _MASK64)
        self._mt = np.array(state, dtype=np.uint64)

    def _twist(self) -> None:
        mt = self._mt
        one = np.uint64(1)

        def mix(upper, lower):
            x = (upper & _UPPER) | (lower & _LOWER)
            return (x >> one) ^ np.where((x & one) == one, _MATRIX_A, np.uint64(0))

        # mt[i] needs old mt[i], mt[i+1] and mt[(i+156) % 312], which is new for i >= 156.
        new = np.empty_like(mt)
        new[:_M] = mt[_M:] ^ mix(mt[:_M], mt[1:_M + 1])
        new[_M:_N - 1] = new[:_N - 1 - _M] ^ mix(mt[_M:_N - 1], mt[_M + 1:])
        new[_N - 1] = new[_M - 1] ^ mix(mt[_N - 1:], new[:1])[0]
        self._mt = new

    @staticmethod
    def _temper(y: np.ndarray) -> np.ndarray:
        y = y ^ ((y >> np.uint64(29)) & np.uint64(0x5555555555555555))
        y = y ^ ((y << np.uint64(17)) & np.uint64(0x71D67FFFEDA60000))
        y = y ^ ((y << np.uint64(37)) & np.uint64(0xFFF7EEE000000000))
        return y ^ (y >> np.uint64(43))

    def block(self) -> List[int]:
        """The next 312 outputs, as Python ints."""
        self._twist()
        return self._temper(self._mt).tolist()


class _Draws:
    """The engine's outputs one by one, with libstdc++'s distributions on top."""

    def __init__(self, seed: int):
        self._engine = MT19937_64(seed)
        self._buffer: List[int] = []
        self._next = 0

    def raw(self) -> int:
        if self._next == len(self._buffer):
            self._buffer = self._engine.block()
            self._next = 0
        value = self._buffer[self._next]
        self._next += 1
        return value

    def unit(self) -> float:
        # generate_canonical<double, 53> over a 64-bit engine: one draw / 2^64.
        value = float(self.raw()) * (1.0 / 18446744073709551616.0)
        return value if value < 1.0 else float(np.nextafter(1.0, 0.0))

    def below(self, bound: int) -> int:
        # uniform_int_distribution: Lemire's nearly divisionless method.
        product = self.raw() * bound
        low = product & _MASK64
        if low < bound:
            threshold = ((1 << 64) - bound) % bound
            while low < threshold:
                product = self.raw() * bound
                low = product & _MASK64
        return product >> 64


def generate_orders(rows: int, seed: int = 42, null_fraction: float = 0.05) -> pa.Table:
    """The orders table (see the module comment). ValueError on bad arguments,
    as the C++ side's Invalid."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if not 0.0 <= null_fraction <= 1.0:
        raise ValueError(f"null_fraction must be in [0, 1], got {null_fraction}")
    draws = _Draws(seed)
    customers = [0] * rows
    amounts: List = [None] * rows
    categories: List = [None] * rows
    stamps: List = [None] * rows
    unit, below = draws.unit, draws.below
    for i in range(rows):
        customers[i] = below(100_000) + 1
        if unit() >= null_fraction:
            amounts[i] = float(int(unit() * 100000)) / 100
        if unit() >= null_fraction:
            categories[i] = CATEGORIES[below(len(CATEGORIES))]
        if unit() >= null_fraction:
            stamps[i] = EPOCH_US + i * 1_000_000
    return pa.table([
        pa.array(np.arange(rows, dtype=np.int64)),
        pa.array(customers, type=pa.int64()),
        pa.array(amounts, type=pa.float64()),
        pa.array(categories, type=pa.utf8()),
        pa.array(stamps, type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
    ], schema=SCHEMA)
