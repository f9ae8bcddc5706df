"""--log-format json: one JSON object per line, carrying the workflow and
run id of the task the line was logged for."""

import json

from pipeline_cluster import cluster  # noqa: F401 (a fixture)
from test_pipeline_python_stages import run_mixed, write_inputs


def test_json_logs_name_the_workflow_and_run_of_each_line(cluster, tmp_path):
    write_inputs(tmp_path)
    c = cluster("jsonlogs", env={"FLIGHTDECK_LOG_FORMAT": "json", "FLIGHTDECK_LOG_LEVEL": "debug"})
    c.python_worker()
    run_mixed(c, tmp_path, "jsonlogs-1")
    worker = c.cpp_workers()[0]
    lines = [json.loads(line) for line in worker.stderr_text().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    activity_lines = [line for line in lines if line.get("activity_type")]
    assert activity_lines, lines[:5]
    assert {line["workflow_id"] for line in activity_lines} == {"jsonlogs-1"}
    assert all(line["run_id"] and line["level"] == "debug" for line in activity_lines)
    assert any("completed in" in line["message"] for line in activity_lines)
