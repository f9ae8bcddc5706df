"""`flightdeck timeline ID --output FILE.svg|html`: a picture of one run from
its history, one bar per activity in its partition's lane; and the same
history per stage in `flightdeck status`."""

import xml.etree.ElementTree as ET

from pipeline_cluster import cluster  # noqa: F401 (a fixture)
from test_pipeline_python_stages import run_mixed, write_inputs

SVG = "{http://www.w3.org/2000/svg}"


def test_a_timeline_draws_every_activity_of_a_run(cluster, tmp_path):
    write_inputs(tmp_path)
    c = cluster("timeline")
    c.python_worker()
    run_mixed(c, tmp_path, "timeline-1")

    drawn = c.cli("timeline", "timeline-1", "--output", str(tmp_path / "run.svg"))
    assert drawn.returncode == 0, drawn.stdout + drawn.stderr
    root = ET.parse(tmp_path / "run.svg").getroot()
    bars = [r for r in root.iter(SVG + "rect") if r.get("class") == "activity"]
    by_activity = {}
    for bar in bars:
        by_activity.setdefault(bar.get("data-activity"), []).append(bar)
    # Four partitions, each through the C++ chain and the Python stage.
    assert {int(b.get("data-partition")) for b in by_activity["flightdeck.python_stage"]} == {0, 1, 2, 3}
    assert {int(b.get("data-partition")) for b in by_activity["flightdeck.partition"]} == {0, 1, 2, 3}
    assert all(b.get("data-outcome") == "completed" and b.get("data-recompute") == "false" for b in bars)
    assert all(float(b.get("width")) >= 1 for b in bars)
    title = root.find(SVG + "title").text
    assert "timeline-1: completed" in title and "160000 source rows" in title and "rows/s" in title

    page = c.cli("timeline", "timeline-1", "--output", str(tmp_path / "run.html"))
    assert page.returncode == 0, page.stderr
    html = (tmp_path / "run.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and html.count("<tr>") == len(bars) + 1

    # `flightdeck status` gives the same activities per stage, and the backlog.
    status = c.cli("status", "timeline-1")
    assert status.returncode == 0, status.stderr
    stages = {line.split()[0]: line.split() for line in status.stdout.splitlines()
              if line.strip().startswith("flightdeck.")}
    # Each partition's chain runs in two steps, before and after the Python stage.
    assert stages["flightdeck.partition"][1:5] == ["8", "0", "0", "0"], status.stdout
    assert stages["flightdeck.python_stage"][1] == "4" and int(stages["flightdeck.python_stage"][5]) > 0
    assert "backlog: 0 activities scheduled and not started, 0 running" in status.stdout

    wrong = c.cli("timeline", "timeline-1", "--output", str(tmp_path / "run.png"))
    assert wrong.returncode == 2 and ".svg or .html" in wrong.stderr
    unknown = c.cli("timeline", "no-such-run", "--output", str(tmp_path / "x.svg"))
    assert unknown.returncode == 1 and "no-such-run" in unknown.stderr
