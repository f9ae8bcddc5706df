"""python -m flightdeck_stage [--address HOST:PORT] [--namespace NS] [--profile P] --task-queue Q [--transforms MOD ...]"""

import argparse
import asyncio
import sys

from flightdeck_stage.node_client import ClientTls, read_token_file, token_from_env, use_tls, use_token
from flightdeck_stage.worker import load_transform_modules, serve


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flightdeck_stage",
        description="Serve the flightdeck.python_stage activity (pyarrow transforms over "
                    "flightdeck data nodes) on a Temporal task queue.",
    )
    parser.add_argument("--address", "--target", default=None,
                        help="Temporal frontend, HOST:PORT (default: TEMPORAL_ADDRESS, the profile's, or "
                             "127.0.0.1:7233)")
    parser.add_argument("--namespace", "-n", default=None,
                        help="Temporal namespace (default: TEMPORAL_NAMESPACE, the profile's, or default)")
    parser.add_argument("--profile", default=None,
                        help="profile of the Temporal config file (TEMPORAL_PROFILE; TEMPORAL_CONFIG_FILE or "
                             "~/.config/temporalio/temporal.toml); TEMPORAL_API_KEY and TEMPORAL_TLS_* apply")
    parser.add_argument("--tls-ca-path", default=None, help="CA that signed Temporal's certificate")
    parser.add_argument("--tls-cert-path", default=None, help="client certificate for Temporal (mTLS)")
    parser.add_argument("--tls-key-path", default=None, help="private key of --tls-cert-path")
    parser.add_argument("--tls-server-name", default=None, help="name to check Temporal's certificate against")
    parser.add_argument("--codec-key-file", default=None,
                        help="encrypt payloads (AES-256-GCM, Temporal's Python sample codec) with this flightdeck "
                             "key file, as the C++ workers' --codec-key-file (env FLIGHTDECK_CODEC_KEY_FILE)")
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve the SDK's Prometheus /metrics on this port (as flightdeck worker --metrics-port)")
    parser.add_argument("--metrics-host", default="127.0.0.1", help="interface of the /metrics endpoint")
    parser.add_argument("--task-queue", required=True, help="task queue to poll")
    parser.add_argument("--transforms", action="append", default=[], metavar="MODULE",
                        help="module to import that registers transforms with @transform "
                             "(repeatable; the built-in ones are always loaded)")
    parser.add_argument("--max-concurrent", type=int, default=4,
                        help="activities run at once (threads); default 4")
    defaults = ClientTls.from_env()
    parser.add_argument("--tls-ca", default=defaults.ca_file,
                        help="PEM CA that signed the data nodes' certificates (env FLIGHTDECK_TLS_CA)")
    parser.add_argument("--tls-cert", default=defaults.cert_file,
                        help="PEM client certificate for nodes that ask for one (env FLIGHTDECK_TLS_CERT)")
    parser.add_argument("--tls-key", default=defaults.key_file,
                        help="PEM private key of --tls-cert (env FLIGHTDECK_TLS_KEY)")
    parser.add_argument("--node-tls-server-name", default=defaults.server_name,
                        help="name to check the nodes' certificates against (env FLIGHTDECK_TLS_SERVER_NAME)")
    parser.add_argument("--token-file", default=None,
                        help="file holding the bearer token for data nodes with an auth config "
                             "(or set FLIGHTDECK_TOKEN or FLIGHTDECK_TOKEN_FILE)")
    args = parser.parse_args(argv)
    if args.max_concurrent < 1:
        parser.error("--max-concurrent must be >= 1")
    try:
        use_tls(ClientTls(args.tls_ca, args.tls_cert, args.tls_key, args.node_tls_server_name))
        use_token(read_token_file(args.token_file) if args.token_file else token_from_env())
    except ValueError as exc:
        parser.error(str(exc))
    try:
        load_transform_modules(args.transforms)
    except Exception as exc:  # an import of user code: report and exit 1
        print(f"flightdeck_stage: cannot load transforms: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    try:
        metrics = f"{args.metrics_host}:{args.metrics_port}" if args.metrics_port is not None else None
        asyncio.run(serve(args.address, args.namespace, args.task_queue, args.max_concurrent, metrics_address=metrics,
                          profile=args.profile, tls_ca=args.tls_ca_path, tls_cert=args.tls_cert_path,
                          tls_key=args.tls_key_path, tls_server_name=args.tls_server_name,
                          codec_key_file=args.codec_key_file))
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"flightdeck_stage: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
