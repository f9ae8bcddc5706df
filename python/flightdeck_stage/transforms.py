"""Transforms that ship with flightdeck_stage, usable as examples. They fit
the orders schema of `flightdeck generate` (id, customer, amount, category,
ts) but only need the columns they name."""

import pyarrow as pa
import pyarrow.compute as pc

from flightdeck_stage.registry import transform

EUR_PER_UNIT = 0.92


@transform("add_discount")
def add_discount(table: pa.Table) -> pa.Table:
    """Appends amount_eur = amount * 0.92 (null where amount is null)."""
    return table.append_column("amount_eur", pc.multiply(table.column("amount"), EUR_PER_UNIT))


@transform("filter_large_amounts")
def filter_large_amounts(table: pa.Table) -> pa.Table:
    """Keeps the rows whose amount is greater than 10 (null amounts are dropped)."""
    return table.filter(pc.greater(table.column("amount"), 10.0))


@transform("identity")
def identity(table: pa.Table) -> pa.Table:
    """Returns the input unchanged (a copy of the dataset under a new ticket)."""
    return table
