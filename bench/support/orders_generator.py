"""The orders table of src/flightdeck/frame/generate.cc, reproduced in numpy.

generate_orders(rows, seed=42, null_fraction=0.05, first_id=0) returns the
same pyarrow table as frame::GenerateOrders with the same options, value for
value. Row i is drawn from outputs 2i and 2i+1 of splitmix64 seeded with
`seed` (output n is mix(seed + (n + 1) * GAMMA), so the stream is computed
for all rows at once):
  a = out[2i]:   customer = 1 + (lo32(a) * 100000 >> 32),
                 amount = (hi32(a) * 100000 >> 32) / 100
  b = out[2i+1]: amount null when bits 0-15 < T, category null when bits
                 16-31 < T, ts null when bits 32-47 < T, category word =
                 bits 61-63, where T = round(null_fraction * 65536)
  id = first_id + i, ts = 2026-01-01 + id seconds.
"""

import numpy as np
import pyarrow as pa

CATEGORIES = ["books", "games", "garden", "grocery", "music", "outdoor", "tools", "toys"]
EPOCH_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
GAMMA = 0x9E3779B97F4A7C15

SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False),
    pa.field("customer", pa.int64(), nullable=False),
    pa.field("amount", pa.float64()),
    pa.field("category", pa.utf8()),
    pa.field("ts", pa.timestamp("us", tz="UTC")),
])


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's output function over uint64 (wrapping) arrays."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def splitmix64(seed: int, count: int) -> np.ndarray:
    """The first `count` outputs of splitmix64 seeded with `seed`."""
    with np.errstate(over="ignore"):
        steps = np.arange(1, count + 1, dtype=np.uint64) * np.uint64(GAMMA)
        return _mix(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) + steps)


def generate_orders(rows: int, seed: int = 42, null_fraction: float = 0.05,
                    first_id: int = 0) -> pa.Table:
    """The orders table (see the module comment). ValueError on bad arguments,
    as the C++ side's Invalid."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if not 0.0 <= null_fraction <= 1.0:
        raise ValueError(f"null_fraction must be in [0, 1], got {null_fraction}")
    threshold = np.uint64(int(np.round(null_fraction * 65536)))
    draws = splitmix64(seed, 2 * rows)
    a, b = draws[0::2], draws[1::2]
    lo, hi = a & np.uint64(0xFFFFFFFF), a >> np.uint64(32)
    customers = (np.uint64(1) + ((lo * np.uint64(100_000)) >> np.uint64(32))).astype(np.int64)
    amounts = ((hi * np.uint64(100_000)) >> np.uint64(32)).astype(np.float64) / 100
    mask = np.uint64(0xFFFF)
    amount_null = (b & mask) < threshold
    category_null = ((b >> np.uint64(16)) & mask) < threshold
    ts_null = ((b >> np.uint64(32)) & mask) < threshold
    words = (b >> np.uint64(61)).astype(np.int32)
    ids = np.arange(first_id, first_id + rows, dtype=np.int64)
    categories = pa.DictionaryArray.from_arrays(
        pa.array(words, mask=category_null), pa.array(CATEGORIES)).cast(pa.utf8())
    return pa.table([
        pa.array(ids),
        pa.array(customers),
        pa.array(amounts, mask=amount_null),
        categories,
        pa.array(EPOCH_US + ids * 1_000_000, mask=ts_null).cast(pa.timestamp("us", tz="UTC")),
    ], schema=SCHEMA)
