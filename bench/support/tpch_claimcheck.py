"""The claim-check baseline of `scripts/bench pipeline-tpch`: TPC-H Q3 and
Q18 as the Temporal Python SDK users write such pipelines today. Activities
run DuckDB over Parquet files in a shared directory and pass file paths (the
"claim checks") through Temporal; one activity per stage and partition.

Q3  stage 1, per lineitem file:   filter l_shipdate, derive revenue,
                                  project what later stages read -> Parquet
    stage 2, per partition:       join orders (o_orderdate filter) and
                                  customer (c_mktsegment filter) -> Parquet
    stage 3, once:                aggregate, sort, limit 10 -> result Parquet
Q18 stage 1, per lineitem file:   sum(l_quantity) by l_orderkey -> Parquet
    stage 2, once:                combine the per-file sums, keep > 300, join
                                  orders and customer -> Parquet
    stage 3, once:                sort, limit 100 -> result Parquet
Q18's stage 2 runs once because the HAVING needs every file's sum of an
order (the files of this bench hold disjoint l_orderkey ranges, but neither
this baseline nor flightdeck's pipeline relies on that): the same plan
shape as flightdeck's pipeline (partial aggregate per partition, one
combine). A partition is the lineitem files i, i + P, i + 2P, ... (P
partitions), as flightdeck assigns them; each partition's chain (its
stage 1 activities, then its stage 2) runs on its own, so a partition's join
starts as soon as its own files are through stage 1.

The workflow and the activities run in one worker process (started by the
bench, `--worker`), which runs `--slots` activities at once in a thread pool,
each on a DuckDB connection of its own with `--threads` threads (DuckDB
releases the GIL while it works). Outputs are written under the request's
`work` folder: <work>/<workflow id>/<stage>-<n>.parquet; the result path is
the workflow's result.

    python bench/support/tpch_claimcheck.py --worker --address HOST:PORT \
        --task-queue Q [--slots 2] [--threads 1]
prints "claim-check worker polling Q" when it polls, and serves until
SIGTERM/SIGINT. Importable: WORKFLOW (the workflow's name) and request(...)
(its argument).
"""

import argparse
import asyncio
import concurrent.futures
import datetime
import os
import pathlib
import signal
import sys
from typing import Any, Dict, List

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

WORKFLOW = "ClaimCheckTpch"

# Engine settings of this worker process (set by main()).
_ENGINE = {"threads": 1, "memory_limit": None}


def _quote(path: str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _files(paths: List[str]) -> str:
    return "[" + ", ".join(_quote(p) for p in paths) + "]"


def _run(sql: str, out: str) -> str:
    """Runs `COPY (sql) TO out` on a fresh DuckDB connection; returns out.
    Writes to a temporary name renamed into place, so that a retried
    activity never sees half a file."""
    import duckdb

    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = f"{out}.tmp-{os.getpid()}-{activity.info().attempt}"
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET threads = {int(_ENGINE['threads'])}")
        if _ENGINE["memory_limit"]:
            con.execute(f"SET memory_limit = '{_ENGINE['memory_limit']}'")
        con.execute(f"COPY ({sql}) TO {_quote(tmp)} (FORMAT parquet)")
    finally:
        con.close()
    os.replace(tmp, out)
    return out


# --- activities: each takes file paths and answers the path it wrote ---------------

@activity.defn(name="claimcheck.q3_filter_derive")
def q3_filter_derive(args: Dict[str, Any]) -> str:
    return _run(f"""
        SELECT l_orderkey, l_extendedprice * (1 - l_discount) AS revenue
        FROM read_parquet({_quote(args['input'])})
        WHERE l_shipdate > DATE '1995-03-15'""", args["out"])


@activity.defn(name="claimcheck.q3_join")
def q3_join(args: Dict[str, Any]) -> str:
    return _run(f"""
        SELECT l_orderkey, revenue, o_orderdate, o_shippriority
        FROM read_parquet({_files(args['inputs'])})
        JOIN read_parquet({_quote(args['orders'])}) ON l_orderkey = o_orderkey
        JOIN read_parquet({_quote(args['customer'])}) ON o_custkey = c_custkey
        WHERE o_orderdate < DATE '1995-03-15' AND c_mktsegment = 'BUILDING'""", args["out"])


@activity.defn(name="claimcheck.q3_aggregate_sort")
def q3_aggregate_sort(args: Dict[str, Any]) -> str:
    return _run(f"""
        SELECT l_orderkey, sum(revenue) AS revenue, o_orderdate, o_shippriority
        FROM read_parquet({_files(args['inputs'])})
        GROUP BY l_orderkey, o_orderdate, o_shippriority
        ORDER BY revenue DESC, o_orderdate
        LIMIT 10""", args["out"])


@activity.defn(name="claimcheck.q18_aggregate")
def q18_aggregate(args: Dict[str, Any]) -> str:
    return _run(f"""
        SELECT l_orderkey, sum(l_quantity) AS sum_qty
        FROM read_parquet({_quote(args['input'])})
        GROUP BY l_orderkey""", args["out"])


@activity.defn(name="claimcheck.q18_join")
def q18_join(args: Dict[str, Any]) -> str:
    return _run(f"""
        WITH big AS (
            SELECT l_orderkey, sum(sum_qty) AS sum_qty
            FROM read_parquet({_files(args['inputs'])})
            GROUP BY l_orderkey
            HAVING sum(sum_qty) > 300)
        SELECT c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum_qty
        FROM big
        JOIN read_parquet({_quote(args['orders'])}) ON l_orderkey = o_orderkey
        JOIN read_parquet({_quote(args['customer'])}) ON o_custkey = c_custkey""", args["out"])


@activity.defn(name="claimcheck.q18_sort")
def q18_sort(args: Dict[str, Any]) -> str:
    return _run(f"""
        SELECT * FROM read_parquet({_files(args['inputs'])})
        ORDER BY o_totalprice DESC, o_orderdate
        LIMIT 100""", args["out"])


ACTIVITIES = [q3_filter_derive, q3_join, q3_aggregate_sort, q18_aggregate, q18_join, q18_sort]


# --- the workflow -----------------------------------------------------------------

OPTIONS = dict(start_to_close_timeout=datetime.timedelta(minutes=30),
               retry_policy=RetryPolicy(maximum_attempts=5))


@workflow.defn(name=WORKFLOW)
class ClaimCheckTpch:
    """request: {"query": "q3"|"q18", "files": [lineitem paths], "orders": path,
    "customer": path, "partitions": P, "work": folder}; answers the result's
    path."""

    @workflow.run
    async def run(self, request: Dict[str, Any]) -> str:
        query, files = request["query"], request["files"]
        partitions = max(1, min(request["partitions"], len(files)))
        folder = f"{request['work']}/{workflow.info().workflow_id}"
        tables = {"orders": request["orders"], "customer": request["customer"]}

        async def stage1(i: int) -> str:
            name = "claimcheck.q3_filter_derive" if query == "q3" else "claimcheck.q18_aggregate"
            return await workflow.execute_activity(
                name, {"input": files[i], "out": f"{folder}/s1-{i}.parquet"}, **OPTIONS)

        if query == "q3":
            async def chain(p: int) -> str:
                mine = await asyncio.gather(*[stage1(i) for i in range(p, len(files), partitions)])
                return await workflow.execute_activity(
                    "claimcheck.q3_join", {"inputs": list(mine), "out": f"{folder}/s2-{p}.parquet",
                                           **tables}, **OPTIONS)

            joined = await asyncio.gather(*[chain(p) for p in range(partitions)])
            return await workflow.execute_activity(
                "claimcheck.q3_aggregate_sort", {"inputs": list(joined), "out": f"{folder}/result.parquet"},
                **OPTIONS)
        if query == "q18":
            sums = await asyncio.gather(*[stage1(i) for i in range(len(files))])
            joined = await workflow.execute_activity(
                "claimcheck.q18_join", {"inputs": list(sums), "out": f"{folder}/s2-0.parquet", **tables},
                **OPTIONS)
            return await workflow.execute_activity(
                "claimcheck.q18_sort", {"inputs": [joined], "out": f"{folder}/result.parquet"}, **OPTIONS)
        raise ValueError(f"unknown query {query!r}")


def request(query: str, files, orders, customer, partitions: int, work) -> Dict[str, Any]:
    """The workflow's argument."""
    return {"query": query, "files": [str(f) for f in files], "orders": str(orders),
            "customer": str(customer), "partitions": int(partitions), "work": str(work)}


# --- the worker process -----------------------------------------------------------

async def serve(address: str, task_queue: str, slots: int) -> None:
    client = await Client.connect(address, namespace="default")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with concurrent.futures.ThreadPoolExecutor(max_workers=slots) as executor:
        async with Worker(client, task_queue=task_queue, workflows=[ClaimCheckTpch],
                          activities=ACTIVITIES, activity_executor=executor,
                          max_concurrent_activities=slots,
                          workflow_runner=UnsandboxedWorkflowRunner()):
            print(f"claim-check worker polling {task_queue}", flush=True)
            await stop.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--slots", type=int, default=2, help="activities at once")
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) // 2),
                        help="DuckDB threads of each activity")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit of each activity")
    args = parser.parse_args(argv)
    _ENGINE["threads"] = args.threads
    _ENGINE["memory_limit"] = args.memory_limit
    import duckdb  # noqa: F401  (imported once, before the first activity)
    asyncio.run(serve(args.address, args.task_queue, args.slots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
