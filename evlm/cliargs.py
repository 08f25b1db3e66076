"""What every EVLM command line shares: `--version`, the endpoint and CURVE flags of a client,
argument types that refuse bad values, and one way to fail (a message on stderr, exit status 2).

One convention for CURVE in every tool that talks to a server: `--server-key FILE` and
`--client-key FILE` (the two files `evlm-server keygen` tells you to give a client), or
`--curve-dir DIR` (a keygen folder: its server.key and first clients/*.key_secret).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from evlm.protocol import DEFAULT_ENDPOINT, check_endpoint

if TYPE_CHECKING:
    from evlm.client import Client, CurveKeys

T = TypeVar("T")

# The full project, or the core alone (the Blender add-on bundles it as `evlm-core`).
DISTRIBUTIONS = ("evlm-blender", "evlm-core")


def package_version() -> str:
    for name in DISTRIBUTIONS:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown (not installed)"


def add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")


def fail(message: str) -> int:
    """Say what is wrong on stderr; exit status 2 (bad input, nothing done)."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0 (seconds, say)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def arg_type(check: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a check that raises ValueError: argparse then prints its message
    (it prints only "invalid value" for a plain ValueError)."""

    def parse(text: str) -> T:
        try:
            return check(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = check.__name__
    return parse


# An endpoint ZeroMQ can use: a missing tcp:// is named, not a ZMQError traceback.
endpoint = arg_type(check_endpoint)


def add_client_args(parser: argparse.ArgumentParser, timeout_s: float, endpoint_help: str = "") -> None:
    """--endpoint, --timeout and the CURVE key flags of a tool that talks to one server."""
    parser.add_argument(
        "--endpoint", type=endpoint, default=DEFAULT_ENDPOINT,
        help=endpoint_help or f"server endpoint (default {DEFAULT_ENDPOINT})",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=positive_float, default=timeout_s,
        help=f"seconds without word from the server before giving up (default {timeout_s:g})",
    )  # fmt: skip
    add_curve_args(parser)


def add_curve_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("CURVE (a server that encrypts and lets in listed clients only)")
    group.add_argument("--server-key", type=Path, metavar="FILE", help="the server's public key file (server.key)")
    group.add_argument(
        "--client-key", type=Path, metavar="FILE", help="this client's secret key file (NAME.key_secret)"
    )
    group.add_argument(
        "--curve-dir", type=Path, metavar="DIR",
        help="instead of the two files: a folder made by `evlm-server keygen` (server.key, clients/*.key_secret)",
    )  # fmt: skip


def curve_keys(args: argparse.Namespace) -> CurveKeys | None:
    """The CURVE keys the flags name (None without any), checked to load. ValueError says what is wrong."""
    from evlm.client import CurveKeys

    server, client, folder = args.server_key, args.client_key, args.curve_dir
    if folder is not None:
        if server is not None or client is not None:
            raise ValueError("give --curve-dir, or --server-key with --client-key, not both")
        keys = CurveKeys.from_dir(folder)
    elif server is None and client is None:
        return None
    elif server is None or client is None:
        raise ValueError("CURVE needs both --server-key and --client-key")
    else:
        keys = CurveKeys(server, client)
    keys.load()
    return keys


def connect(args: argparse.Namespace) -> Client:
    """A client for `--endpoint`, `--timeout` and the CURVE flags. ValueError for bad keys."""
    from evlm.client import Client

    return Client(args.endpoint, timeout_s=args.timeout, curve=curve_keys(args))
