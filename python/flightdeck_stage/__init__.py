"""flightdeck_stage: serve a pipeline stage from Python (pyarrow) on its own
Temporal task queue.

A stage activity reads its input dataset from a flightdeck data node by
ticket (Arrow Flight DoGet), applies a named transform (pyarrow.Table ->
pyarrow.Table) and writes the result back to the same node (DoPut). Temporal
only ever sees the small DatasetRef (ticket and summary), never the data.

    from flightdeck_stage import transform

    @transform("my_stage")
    def my_stage(table: pyarrow.Table) -> pyarrow.Table:
        ...

Run a worker with `python -m flightdeck_stage --address HOST:PORT
--task-queue Q [--transforms my.module]`.
"""

from flightdeck_stage.dataset_ref import DatasetRef, StageInput
from flightdeck_stage.registry import get_transform, registered_transforms, transform
from flightdeck_stage.stage import ACTIVITY_NAME

__all__ = [
    "ACTIVITY_NAME",
    "DatasetRef",
    "StageInput",
    "get_transform",
    "registered_transforms",
    "transform",
]
