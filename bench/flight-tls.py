"""scripts/bench flight-tls: DoGet and DoPut over TLS against a pyarrow.flight
reference server over TLS, with our plaintext figure, all in one run (same
data and rounds as bench/flight.py; certificates from
examples/security/make-certs in a temporary folder).

Targets (issue 17): TLS DoGet at least 0.9x the TLS reference and at least
0.75x our plaintext. The reference server is measured in plaintext too
(ref_plain_doget_gbps), so that ref_tls_vs_ref_plain shows what TLS costs
Arrow Flight itself on this machine (client and server share its cores, and
each byte is encrypted by one and decrypted by the other). The last line is one JSON object with tls_doget_gbps,
ref_tls_doget_gbps, plain_doget_gbps, tls_doput_gbps, ref_tls_doput_gbps and
the ratios."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("flight_bench", ROOT / "bench" / "flight.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def main():
    binary = os.environ.get("FLIGHTDECK_BINARY", str(ROOT / "build" / "src" / "flightdeck" / "flightdeck"))
    batches = bench.make_batches()
    nbytes = sum(b.nbytes for b in batches)
    print(f"data: {sum(b.num_rows for b in batches):,} rows, {nbytes / 1e9:.2f} GB in {len(batches)} batches",
          flush=True)
    with tempfile.TemporaryDirectory() as folder:
        certs = pathlib.Path(folder)
        subprocess.run([str(ROOT / "examples" / "security" / "make-certs"), folder], check=True,
                       capture_output=True)
        tls = ["--tls-cert", str(certs / "node.pem"), "--tls-key", str(certs / "node-key.pem")]
        connect = {"tls_root_certs": (certs / "ca.pem").read_bytes()}
        node, node_location = bench.start([binary, "node", "--port", "0", "--memory-budget", "6GB", *tls],
                                          r"listening on (grpc\+tls://\S+)")
        plain, plain_location = bench.start([binary, "node", "--port", "0", "--memory-budget", "6GB"],
                                            r"listening on (grpc\+tcp://\S+)")
        ref, ref_location = bench.start([sys.executable, "-c", bench.REFERENCE_SERVER],
                                        r"listening on (grpc\+tls://\S+)",
                                        env={"REF_TLS_CERT": str(certs / "node.pem"),
                                             "REF_TLS_KEY": str(certs / "node-key.pem")})
        ref_plain, ref_plain_location = bench.start([sys.executable, "-c", bench.REFERENCE_SERVER],
                                                    r"listening on (grpc\+tcp://\S+)")
        try:
            ours = bench.Target("tls", node_location, ours=True, pid=node.pid, connect_kwargs=connect)
            theirs_plain = bench.Target("ref plaintext", ref_plain_location, ours=False, pid=ref_plain.pid)
            theirs = bench.Target("ref tls", ref_location, ours=False, pid=ref.pid, connect_kwargs=connect)
            plaintext = bench.Target("plaintext", plain_location, ours=True, pid=plain.pid)
            for _ in range(bench.REPEATS):  # alternate: the same background load for all
                for target in (ours, theirs, plaintext, theirs_plain):
                    target.round(batches)
            tls_put, tls_get, tls_single, _, _ = ours.report(nbytes)
            ref_put, ref_get, ref_single, _, _ = theirs.report(nbytes)
            plain_put, plain_get, plain_single, _, _ = plaintext.report(nbytes)
            _, ref_plain_get, _, _, _ = theirs_plain.report(nbytes)
        finally:
            for proc in (node, plain, ref, ref_plain):
                proc.kill()
                proc.wait()
    figures = {
        "tls_doget_gbps": round(tls_get, 3),
        "ref_tls_doget_gbps": round(ref_get, 3),
        "plain_doget_gbps": round(plain_get, 3),
        "tls_doput_gbps": round(tls_put, 3),
        "ref_tls_doput_gbps": round(ref_put, 3),
        "plain_doput_gbps": round(plain_put, 3),
        "ref_plain_doget_gbps": round(ref_plain_get, 3),
        "ref_tls_vs_ref_plain": round(ref_get / ref_plain_get, 3),
        "tls_doget_single_gbps": round(tls_single, 3),
        "ref_tls_doget_single_gbps": round(ref_single, 3),
        "tls_doget_vs_ref": round(tls_get / ref_get, 3),
        "tls_doget_vs_plain": round(tls_get / plain_get, 3),
        "tls_doput_vs_ref": round(tls_put / ref_put, 3),
        "targets": {"tls_doget_vs_ref": 0.9, "tls_doget_vs_plain": 0.75},
        "load_average": round(os.getloadavg()[0], 2),
        "bytes": nbytes,
    }
    print(f"TLS DoGet {figures['tls_doget_vs_ref']:.2f}x the TLS reference, {figures['tls_doget_vs_plain']:.2f}x "
          f"our plaintext (the reference's own TLS is {figures['ref_tls_vs_ref_plain']:.2f}x its plaintext); "
          f"TLS DoPut {figures['tls_doput_vs_ref']:.2f}x the TLS reference")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
