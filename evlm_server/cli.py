"""`evlm-server serve|ping|info|keygen`: the server's command line (`evlm suggest` is evlm/cli.py)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path

from evlm.cliargs import add_client_args, add_version, connect, endpoint, fail, positive_int
from evlm.protocol import DEFAULT_ENDPOINT, Limits, is_local_endpoint
from evlm_server.device import DEVICES, device_arg
from evlm_server.engine.checkpoint import check_checkpoint, supported

ENV_MODEL = "EVLM_MODEL"
# EVLM-tiny, trained by the project's own pipeline (its README.md is the model card).
BUILTIN_MODEL = Path(__file__).resolve().parent / "models" / "evlm-tiny"


# ---------------------------------------------------------------------- evlm-server
def server_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="evlm-server",
        description="EVLM server: turns editing instructions + scene views into validated edit plans.",
    )
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="load a model and serve requests over ZeroMQ")
    serve.add_argument(
        "--model",
        type=Path,
        default=os.environ.get(ENV_MODEL),
        help=f"local Hugging Face checkpoint folder (default: ${ENV_MODEL}, else the built-in EVLM-tiny); "
        f"architectures: {supported()}",
    )
    serve.add_argument(
        "--bind", type=endpoint, default=DEFAULT_ENDPOINT, help=f"endpoint to bind (default {DEFAULT_ENDPOINT})"
    )
    serve.add_argument(
        "--engine",
        choices=["auto", "hf", "fast", "null"],
        default="auto",
        help="auto (default): fast on CUDA for Qwen2-VL-family models, else hf; hf: plain transformers; "
        "fast: static KV cache + CUDA graphs + continuous batching; null: no model, for testing the wire",
    )
    serve.add_argument("--device", type=device_arg, default="auto", help=f"{DEVICES} (default auto)")
    serve.add_argument("--max-batch", type=positive_int, default=4, help="requests decoded together (default 4)")
    serve.add_argument("--max-reasoning-tokens", type=positive_int, default=256)
    serve.add_argument("--max-answer-tokens", type=positive_int, default=768)
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
        add_client_args(sub.add_parser(name, help=text), timeout_s=5.0)

    keygen = sub.add_parser("keygen", help="make CURVE keys: a server pair, client pairs and the allow-list")
    keygen.add_argument("--dir", type=Path, required=True, help="folder to write the keys to")
    keygen.add_argument("--clients", type=positive_int, default=1, help="client key pairs to make (default 1)")

    args = parser.parse_args(argv)
    return {"serve": _serve, "ping": _ping, "info": _info, "keygen": _keygen}[args.command](args)


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not is_local_endpoint(args.bind) and args.curve_dir is None and not args.insecure_remote:
        return fail(
            f"refusing to bind {args.bind} without CURVE: use --curve-dir (see `evlm-server keygen`) "
            "or --insecure-remote"
        )
    try:
        curve = _curve_config(args.curve_dir) if args.curve_dir is not None else None
        engine = _engine(args)
    except (FileNotFoundError, ValueError, OSError) as e:
        return fail(str(e))
    from evlm_server.server import Server

    try:
        server = Server(engine, bind=args.bind, limits=Limits(), curve=curve, insecure_remote=args.insecure_remote)
        server.install_signal_handlers()
        server.serve()
    except Exception as e:  # zmq bind errors and the like
        return fail(f"cannot serve on {args.bind}: {e}")
    return 0


def _curve_config(folder: Path):  # noqa: ANN202
    import zmq.auth

    from evlm_server.server import CurveConfig

    secret, allowed = folder / "server.key_secret", folder / "allowed"
    if not secret.is_file() or not allowed.is_dir():
        raise ValueError(f"{folder} lacks server.key_secret or allowed/: run `evlm-server keygen --dir {folder}`")
    if zmq.auth.load_certificate(str(secret))[1] is None:
        raise ValueError(f"{secret} holds no secret key")
    return CurveConfig(server_secret_file=secret, allowed_dir=allowed)


def _engine(args: argparse.Namespace):  # noqa: ANN202
    """The engine the arguments ask for; the checkpoint is checked before torch is imported."""
    if args.engine == "null":
        from evlm_server.engine.null import NullEngine

        return NullEngine(max_batch=args.max_batch)
    model = args.model
    if model is None:
        if not (BUILTIN_MODEL / "config.json").is_file():
            raise ValueError(
                f"no model: pass --model PATH or set ${ENV_MODEL} (the built-in {BUILTIN_MODEL} is missing)"
            )
        model = BUILTIN_MODEL
    check_checkpoint(model)  # milliseconds; importing torch takes seconds
    from evlm_server.engine import load_engine

    return load_engine(
        model,
        kind=args.engine,
        device=args.device,
        max_batch=args.max_batch,
        max_reasoning_tokens=args.max_reasoning_tokens,
        max_answer_tokens=args.max_answer_tokens,
    )


def _ping(args: argparse.Namespace) -> int:
    return _ask(args, lambda client: f"{args.endpoint}: pong in {client.ping() * 1000:.1f} ms")


def _info(args: argparse.Namespace) -> int:
    return _ask(args, lambda client: json.dumps(client.info().model_dump(mode="json"), indent=2))


def _ask(args: argparse.Namespace, question) -> int:  # noqa: ANN001
    from evlm.client import RequestTimeout, ServerError

    try:
        client = connect(args)
    except ValueError as e:
        return fail(str(e))
    with client:
        try:
            print(question(client))
        except (RequestTimeout, ServerError) as e:
            return fail(str(e))
    return 0


def _keygen(args: argparse.Namespace) -> int:
    import zmq.auth

    folder: Path = args.dir
    if (folder / "server.key_secret").exists():
        return fail(f"{folder} already holds server keys; not overwriting them")
    try:
        (folder / "clients").mkdir(parents=True, exist_ok=True)
        (folder / "allowed").mkdir(exist_ok=True)
    except OSError as e:
        return fail(f"cannot write keys to {folder}: {e}")
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
        f"give each client server.key and its own clients/clientN.key_secret "
        f"(--server-key {folder}/server.key --client-key {folder}/clients/client0.key_secret)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(server_main())
