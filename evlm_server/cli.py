"""`evlm-server serve|ping|info|keygen`: the server's command line (`evlm suggest` is evlm/cli.py)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path

from evlm.protocol import DEFAULT_ENDPOINT, Limits, is_local_endpoint

ENV_MODEL = "EVLM_MODEL"
# EVLM-tiny, trained by the project's own pipeline (its README.md is the model card).
BUILTIN_MODEL = Path(__file__).resolve().parent / "models" / "evlm-tiny"


# ---------------------------------------------------------------------- evlm-server
def server_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="evlm-server",
        description="EVLM server: turns editing instructions + scene views into validated edit plans.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="load a model and serve requests over ZeroMQ")
    serve.add_argument(
        "--model",
        type=Path,
        default=os.environ.get(ENV_MODEL),
        help=f"local Hugging Face checkpoint folder (default: ${ENV_MODEL}, else the built-in EVLM-tiny)",
    )
    serve.add_argument("--bind", default=DEFAULT_ENDPOINT, help=f"endpoint to bind (default {DEFAULT_ENDPOINT})")
    serve.add_argument(
        "--engine",
        choices=["auto", "hf", "fast", "null"],
        default="auto",
        help="auto (default): fast for Qwen2-VL-family models, else hf; hf: plain transformers; "
        "fast: static KV cache, lean decode (CUDA graphs on CUDA), continuous batching; "
        "null: no model, for testing the wire",
    )
    serve.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    serve.add_argument(
        "--threads",
        type=_threads,
        default=None,
        metavar="N|auto",
        help="torch's CPU threads: auto (default) uses the cores other processes leave free, "
        "re-decided as the load changes; N fixes them",
    )
    serve.add_argument("--max-batch", type=int, default=4, help="requests decoded together (default 4)")
    serve.add_argument("--max-reasoning-tokens", type=int, default=256)
    serve.add_argument("--max-answer-tokens", type=int, default=768)
    serve.add_argument(
        "--curve-dir",
        type=Path,
        help="folder made by `evlm-server keygen`: turns on CURVE encryption and its client allow-list",
    )
    serve.add_argument(
        "--insecure-remote",
        action="store_true",
        help="allow binding a non-loopback address without CURVE (anyone on the network can use it)",
    )
    serve.add_argument("-v", "--verbose", action="store_true")

    for name, text in (("ping", "check that a server answers"), ("info", "show what a server runs")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--endpoint", default=DEFAULT_ENDPOINT)
        p.add_argument("--timeout", type=float, default=5.0)
        p.add_argument("--curve-dir", type=Path, help="keys folder, if the server uses CURVE")

    keygen = sub.add_parser("keygen", help="make CURVE keys: a server pair, client pairs and the allow-list")
    keygen.add_argument("--dir", type=Path, required=True, help="folder to write the keys to")
    keygen.add_argument("--clients", type=int, default=1, help="client key pairs to make (default 1)")

    args = parser.parse_args(argv)
    return {"serve": _serve, "ping": _ping, "info": _info, "keygen": _keygen}[args.command](args)


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not is_local_endpoint(args.bind) and args.curve_dir is None and not args.insecure_remote:
        return _fail(
            f"refusing to bind {args.bind} without CURVE: use --curve-dir (see `evlm-server keygen`) "
            "or --insecure-remote"
        )
    from evlm_server.server import CurveConfig, Server

    curve = None
    if args.curve_dir is not None:
        secret, allowed = args.curve_dir / "server.key_secret", args.curve_dir / "allowed"
        if not secret.is_file() or not allowed.is_dir():
            return _fail(
                f"{args.curve_dir} lacks server.key_secret or allowed/: run `evlm-server keygen --dir {args.curve_dir}`"
            )
        curve = CurveConfig(server_secret_file=secret, allowed_dir=allowed)
    if args.engine == "null":
        from evlm_server.engine.null import NullEngine

        engine = NullEngine(max_batch=args.max_batch)
    else:
        if args.model is None:
            if not (BUILTIN_MODEL / "config.json").is_file():
                return _fail(
                    f"no model: pass --model PATH or set ${ENV_MODEL} (the built-in {BUILTIN_MODEL} is missing)"
                )
            args.model = str(BUILTIN_MODEL)
        from evlm_server.engine import load_engine

        try:
            engine = load_engine(
                args.model,
                kind=args.engine,
                device=args.device,
                max_batch=args.max_batch,
                max_reasoning_tokens=args.max_reasoning_tokens,
                max_answer_tokens=args.max_answer_tokens,
                threads=args.threads,
            )
        except (FileNotFoundError, ValueError, OSError) as e:
            return _fail(str(e))
    server = Server(engine, bind=args.bind, limits=Limits(), curve=curve)
    server.install_signal_handlers()
    try:
        server.serve()
    except Exception as e:  # zmq bind errors and the like
        return _fail(f"cannot serve on {args.bind}: {e}")
    return 0


def _client(args: argparse.Namespace, timeout: float):  # noqa: ANN202
    from evlm.client import Client, CurveKeys

    curve = CurveKeys.from_dir(args.curve_dir) if getattr(args, "curve_dir", None) is not None else None
    return Client(args.endpoint, timeout_s=timeout, curve=curve)


def _ping(args: argparse.Namespace) -> int:
    from evlm.client import RequestTimeout

    with _client(args, args.timeout) as client:
        try:
            print(f"{args.endpoint}: pong in {client.ping() * 1000:.1f} ms")
        except RequestTimeout as e:
            return _fail(str(e))
    return 0


def _info(args: argparse.Namespace) -> int:
    from evlm.client import RequestTimeout

    with _client(args, args.timeout) as client:
        try:
            print(json.dumps(client.info(), indent=2))
        except RequestTimeout as e:
            return _fail(str(e))
    return 0


def _keygen(args: argparse.Namespace) -> int:
    import zmq.auth

    folder: Path = args.dir
    (folder / "clients").mkdir(parents=True, exist_ok=True)
    (folder / "allowed").mkdir(exist_ok=True)
    if (folder / "server.key_secret").exists():
        return _fail(f"{folder} already holds server keys; not overwriting them")
    zmq.auth.create_certificates(str(folder), "server")
    for i in range(args.clients):
        public, _ = zmq.auth.create_certificates(str(folder / "clients"), f"client{i}")
        shutil.copy(public, folder / "allowed")
    os.chmod(folder / "server.key_secret", 0o600)
    for p in (folder / "clients").glob("*.key_secret"):
        os.chmod(p, 0o600)
    print(
        f"wrote {folder}/server.key[_secret], {args.clients} client pair(s) in {folder}/clients, "
        f"allow-list in {folder}/allowed\nserve with: evlm-server serve --curve-dir {folder} --bind tcp://0.0.0.0:5555\n"
        f"give each client server.key and its own clients/clientN.key_secret"
    )
    return 0


def _threads(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive count or 'auto', got {text!r}")
    return n


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(server_main())
