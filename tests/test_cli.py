"""The command lines: readable and JSON output, clear errors, safe defaults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evlm.cli import main
from evlm.protocol import is_local_endpoint as _is_local
from evlm_server.cli import server_main
from evlm_server.engine.null import NullEngine

from .conftest import make_scene, png_bytes


@pytest.fixture
def request_files(tmp_path: Path) -> tuple[Path, Path]:
    scene = tmp_path / "scene.json"
    scene.write_text(make_scene().model_dump_json())
    views = tmp_path / "views"
    views.mkdir()
    for i in range(6):
        (views / f"view_{i}.png").write_bytes(png_bytes())
    (views / "view_0.json").write_text(json.dumps({"label": "front", "width": 64, "height": 48, "frame": 5}))
    return scene, views


def test_suggest_prints_suggestions(serve, request_files, capsys) -> None:  # noqa: ANN001
    s = serve(NullEngine())
    scene, views = request_files
    rc = main(
        ["suggest", "--scene", str(scene), "--views", str(views), "-i", "make it cozier", "--endpoint", s.endpoint]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "1. Generative edit" in out and "generative edit: modality '3d', prompt 'make it cozier'" in out


def test_suggest_json(serve, request_files, capsys) -> None:  # noqa: ANN001
    s = serve(NullEngine())
    scene, views = request_files
    rc = main(["suggest", "--scene", str(scene), "--views", str(views), "-i", "x", "--endpoint", s.endpoint, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["type"] == "result" and data["plan"]["suggestions"]


def test_suggest_without_scene_is_an_image_request(serve, request_files, capsys) -> None:  # noqa: ANN001
    s = serve(NullEngine())
    _, views = request_files
    assert main(["suggest", "--views", str(views), "-i", "remove the sky", "--endpoint", s.endpoint, "--json"]) == 0
    op = json.loads(capsys.readouterr().out)["plan"]["suggestions"][0]["ops"][0]
    assert op["modality"] == "image"


def test_suggest_bad_inputs_fail_clearly(request_files, tmp_path, capsys) -> None:  # noqa: ANN001
    scene, views = request_files
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["suggest", "--scene", str(scene), "--views", str(empty), "-i", "x"]) == 2
    assert "no .png or .jpg views" in capsys.readouterr().err
    bad_scene = tmp_path / "bad.json"
    bad_scene.write_text('{"objects": [{"name": 3}]}')
    assert main(["suggest", "--scene", str(bad_scene), "--views", str(views), "-i", "x"]) == 2
    assert "objects.0.name" in capsys.readouterr().err
    (views / "broken.png").write_bytes(b"not a png")
    assert main(["suggest", "--scene", str(scene), "--views", str(views), "-i", "x"]) == 2
    assert "broken.png" in capsys.readouterr().err


def test_suggest_with_no_server_times_out_with_a_hint(request_files, capsys) -> None:  # noqa: ANN001
    scene, views = request_files
    rc = main(["suggest", "--scene", str(scene), "--views", str(views), "-i", "x",
               "--endpoint", "tcp://127.0.0.1:1", "--timeout", "0.5"])  # fmt: skip
    assert rc == 2 and "is evlm-server running?" in capsys.readouterr().err


def test_server_refuses_to_serve_remote_without_curve(capsys) -> None:  # noqa: ANN001
    assert server_main(["serve", "--engine", "null", "--bind", "tcp://0.0.0.0:5999"]) == 2
    assert "without CURVE" in capsys.readouterr().err


def test_server_without_model_or_built_in_one_says_so(capsys, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    """No --model, no $EVLM_MODEL and no built-in model (e.g. a broken install): a clear error.
    With the built-in model present, serve loads it (tests/test_evlm_tiny.py)."""
    import evlm_server.cli

    monkeypatch.delenv("EVLM_MODEL", raising=False)
    monkeypatch.setattr(evlm_server.cli, "BUILTIN_MODEL", tmp_path / "missing")
    assert server_main(["serve", "--bind", "tcp://127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert "--model PATH" in err and "missing" in err


def test_is_local() -> None:
    assert _is_local("tcp://127.0.0.1:5555") and _is_local("tcp://localhost:1") and _is_local("ipc:///tmp/x")
    assert _is_local("tcp://[::1]:5555")
    assert not _is_local("tcp://0.0.0.0:5555") and not _is_local("tcp://*:5555") and not _is_local("tcp://10.0.0.2:1")


def test_keygen_refuses_to_overwrite(tmp_path, capsys) -> None:  # noqa: ANN001
    assert server_main(["keygen", "--dir", str(tmp_path / "k"), "--clients", "2"]) == 0
    assert len(list((tmp_path / "k" / "allowed").glob("*.key"))) == 2
    assert server_main(["keygen", "--dir", str(tmp_path / "k")]) == 2


def test_serve_process_answers_ping_and_stops_on_sigterm(tmp_path) -> None:  # noqa: ANN001
    endpoint = f"ipc://{tmp_path}/evlm.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "evlm_server", "serve", "--engine", "null", "--bind", endpoint],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if server_main(["ping", "--endpoint", endpoint, "--timeout", "1"]) == 0:
                break
        else:
            pytest.fail("server never answered")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert b"stopped" in proc.stdout.read()
    finally:
        proc.kill()
