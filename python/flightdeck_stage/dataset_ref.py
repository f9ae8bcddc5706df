"""The JSON shapes a stage activity exchanges with its workflow.

A DatasetRef names one dataset on one data node and summarizes it:
    {"node": "grpc+tcp://host:port", "ticket": "<base64 of the ticket bytes>",
     "rows": int, "bytes": int, "schema_fingerprint": str, "checksum": str}
A StageInput is the activity's argument:
    {"tenant": str, "run": str, "stage": int, "partition": int,
     "transform": str, "durable": bool, "input": DatasetRef,
     "lease_seconds": int (optional; > 0: the output expires that long after
                           the put unless the run renews it)}
Parsing raises ValueError naming the first field that is missing or wrong.
"""

import base64
import binascii
import dataclasses
import json
from typing import Any, Dict, Mapping

import pyarrow.flight as flight


def _field(obj: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    if name not in obj:
        raise ValueError(f"{where}: missing field {name!r}")
    value = obj[name]
    # bool is an int in Python: do not accept True as a row count.
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{where}: field {name!r} must be an integer, got {value!r}")
    if kind is not int and not isinstance(value, kind):
        raise ValueError(f"{where}: field {name!r} must be {kind.__name__}, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class DatasetRef:
    node: str
    ticket: bytes
    rows: int = 0
    bytes: int = 0
    schema_fingerprint: str = ""
    checksum: str = ""

    @staticmethod
    def from_json(obj: Any, where: str = "dataset") -> "DatasetRef":
        """Parses the JSON object form; the ticket is base64 (standard alphabet)."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(obj).__name__}")
        node = _field(obj, "node", str, where)
        if not node.startswith("grpc"):
            raise ValueError(f"{where}: field 'node' must be a grpc location such as "
                             f"grpc+tcp://host:port, got {node!r}")
        encoded = _field(obj, "ticket", str, where)
        try:
            ticket = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}: field 'ticket' is not base64: {encoded[:80]!r}") from None
        if not ticket:
            raise ValueError(f"{where}: field 'ticket' is empty")
        return DatasetRef(
            node=node,
            ticket=ticket,
            rows=int(obj.get("rows", 0) or 0),
            bytes=int(obj.get("bytes", 0) or 0),
            schema_fingerprint=str(obj.get("schema_fingerprint", "") or ""),
            checksum=str(obj.get("checksum", "") or ""),
        )

    def to_json(self) -> Dict[str, Any]:
        return {
            "node": self.node,
            "ticket": base64.b64encode(self.ticket).decode("ascii"),
            "rows": self.rows,
            "bytes": self.bytes,
            "schema_fingerprint": self.schema_fingerprint,
            "checksum": self.checksum,
        }


@dataclasses.dataclass(frozen=True)
class StageInput:
    tenant: str
    run: str
    stage: int
    partition: int
    transform: str
    durable: bool
    input: DatasetRef
    lease_seconds: int = 0

    @staticmethod
    def from_json(obj: Any) -> "StageInput":
        where = "stage input"
        if not isinstance(obj, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(obj).__name__}")
        tenant = _field(obj, "tenant", str, where)
        run = _field(obj, "run", str, where)
        for name, value in (("tenant", tenant), ("run", run)):
            if not value or "/" in value:
                raise ValueError(f"{where}: field {name!r} must be non-empty without '/', got {value!r}")
        stage = _field(obj, "stage", int, where)
        partition = _field(obj, "partition", int, where)
        if stage < 0 or partition < 0:
            raise ValueError(f"{where}: 'stage' and 'partition' must be >= 0, got {stage} and {partition}")
        return StageInput(
            tenant=tenant,
            run=run,
            stage=stage,
            partition=partition,
            transform=_field(obj, "transform", str, where),
            durable=_field(obj, "durable", bool, where),
            input=DatasetRef.from_json(_field(obj, "input", Mapping, where), "stage input.input"),
            lease_seconds=_field(obj, "lease_seconds", int, where) if "lease_seconds" in obj else 0,
        )

    def output_descriptor(self):
        """The Flight descriptor the output is put under: its path, with the
        lease as a command descriptor when there is one."""
        tenant, dataset, partition = self.output_path()
        if self.lease_seconds <= 0:
            return flight.FlightDescriptor.for_path(tenant, dataset, partition)
        return flight.FlightDescriptor.for_command(json.dumps(
            {"tenant": tenant, "dataset": dataset, "partition": partition, "ttl_seconds": self.lease_seconds}))

    def output_path(self):
        """The path descriptor elements of this stage's output dataset."""
        return [self.tenant, f"{self.run}-s{self.stage}", str(self.partition)]
