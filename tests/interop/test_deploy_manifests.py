"""deploy/: the Kubernetes manifests and the systemd units parse, hang
together (the kustomization lists every manifest, selectors match labels,
KEDA scales the worker Deployment on the queue the workers poll, the nodes
keep volumes) and every flightdeck command line in them is accepted by the
real binary: each flag is one its subcommand's --help lists, and the
systemd units pass `systemd-analyze verify` where systemd is installed."""

import configparser
import pathlib
import re
import shutil
import subprocess

import yaml

from conftest import ROOT, flightdeck_binary

DEPLOY = ROOT / "deploy"


def documents():
    """Every YAML document under deploy/kubernetes, with its file name."""
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                yield path.name, doc


def flags_of(subcommand: str) -> set:
    """The long flags `flightdeck SUBCOMMAND --help` lists (and the global ones)."""
    text = subprocess.run([flightdeck_binary(), subcommand, "--help"], capture_output=True, text=True,
                          check=True, timeout=30).stdout
    text += subprocess.run([flightdeck_binary(), "--help"], capture_output=True, text=True, check=True,
                           timeout=30).stdout
    return set(re.findall(r"(--[a-z][a-z-]*)", text))


def check_command_line(words, where):
    """`words` is `flightdeck [GLOBAL FLAGS] SUBCOMMAND FLAGS...`: every flag is one the binary takes."""
    assert pathlib.Path(words[0]).name == "flightdeck", where
    rest = words[1:]
    while rest and rest[0].startswith("--"):  # global flags (--log-format json)
        rest = rest[2:] if "=" not in rest[0] else rest[1:]
    subcommand, args = rest[0], rest[1:]
    known = flags_of(subcommand)
    used = [word.split("=", 1)[0] for word in args if word.startswith("--")]
    assert used, where
    unknown = [flag for flag in used if flag not in known]
    assert unknown == [], f"{where}: flightdeck {subcommand} does not take {unknown}"
    return subcommand, args


def test_kubernetes_manifests_hang_together_and_their_command_lines_are_real():
    docs = list(documents())
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in docs if doc["kind"] != "Kustomization"}
    for _, doc in docs:
        named = doc.get("kind") == "Kustomization" or doc.get("metadata", {}).get("name")
        assert doc.get("apiVersion") and doc.get("kind") and named, doc
    kustomization = next(doc for name, doc in docs if doc["kind"] == "Kustomization")
    files = {p.name for p in (DEPLOY / "kubernetes").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files

    by_kind = {}
    for _, doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    node = next(d for d in by_kind["StatefulSet"] if d["metadata"]["name"] == "flightdeck-node")
    worker = next(d for d in by_kind["Deployment"] if d["metadata"]["name"] == "flightdeck-worker")
    scaler = next(d for d in by_kind["ScaledObject"] if d["metadata"]["name"] == "flightdeck-worker")
    assert ("Service", node["spec"]["serviceName"]) in kinds  # the nodes' stable names
    assert node["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    for workload in (node, worker):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()

    # Every flightdeck container's command line is one the binary accepts.
    configmaps = {d["metadata"]["name"]: d["data"] for d in by_kind["ConfigMap"]}
    checked = {}
    for workload in (node, worker):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            subcommand, args = check_command_line(container["command"], workload["metadata"]["name"])
            checked[subcommand] = dict(a.split("=", 1) for a in args if "=" in a)
            mounts = {m["name"] for m in container.get("volumeMounts", [])}
            volumes = {v["name"] for v in workload["spec"]["template"]["spec"].get("volumes", [])}
            claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])}
            assert mounts <= volumes | claims, (workload["metadata"]["name"], mounts - volumes - claims)
    assert checked["node"]["--data-dir"].startswith("/var/lib/flightdeck")
    assert "--tls-cert" in checked["node"] and "--auth-config" in checked["node"]  # secure by default
    # The cluster the nodes register in is etcd over HTTPS, with client
    # certificates on both sides.
    cluster = configmaps["flightdeck-temporal"]["FLIGHTDECK_CLUSTER"]
    assert cluster.startswith("etcds://flightdeck-etcd:")
    assert ("Service", "flightdeck-etcd") in kinds
    assert {"--cluster-ca", "--cluster-cert", "--cluster-key"} <= checked["node"].keys()
    etcd = next(d for d in by_kind["StatefulSet"] if d["metadata"]["name"] == "flightdeck-etcd")
    etcd_command = etcd["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--client-cert-auth" in etcd_command
    assert "--listen-client-urls=https://0.0.0.0:2379" in etcd_command

    # KEDA's Temporal scaler watches the queue the workers poll and scales them.
    assert scaler["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    trigger = scaler["spec"]["triggers"][0]
    assert trigger["type"] == "temporal"
    assert trigger["metadata"]["taskQueue"] == checked["worker"]["--task-queue"]
    assert trigger["metadata"]["endpoint"] == configmaps["flightdeck-temporal"]["TEMPORAL_ADDRESS"]


def test_systemd_units_parse_and_their_command_lines_are_real(tmp_path):
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {u.name for u in units} == {"flightdeck-node@.service", "flightdeck-worker@.service"}
    for unit in units:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str
        parser.read_string(unit.read_text())
        service = parser["Service"]
        assert service["Restart"] == "on-failure" and service["KillSignal"] == "SIGTERM"
        words = service["ExecStart"].replace("\\\n", " ").split()
        check_command_line(words, unit.name)
        verify = shutil.which("systemd-analyze")
        if verify:
            # The unit as installed, with the binary where this build has it.
            local = tmp_path / unit.name.replace("@.", "@test.")
            local.write_text(unit.read_text().replace("/usr/local/bin/flightdeck", flightdeck_binary()))
            done = subprocess.run([verify, "verify", "--man=no", str(local)], capture_output=True, text=True,
                                  timeout=60)
            # It warns (exit 0) about what it ignores: a clean unit says nothing.
            assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
