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


def test_serve_process_answers_ping_and_info_and_stops_on_sigterm(tmp_path, capsys) -> None:  # noqa: ANN001
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
        capsys.readouterr()
        assert server_main(["info", "--endpoint", endpoint]) == 0
        info = json.loads(capsys.readouterr().out)
        assert (info["engine"], info["model"], info["healthy"], info["limits"]["max_views"]) == ("null", None, True, 96)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert b"stopped" in proc.stdout.read()
    finally:
        proc.kill()


# ---------------------------------------------------------------- bad arguments: exit 2, no traceback
def argparse_refuses(main_fn, argv: list[str], capsys, *needles: str) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as e:
        main_fn(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize(
    "flag, value",
    [("--max-batch", "0"), ("--max-batch", "-3"), ("--max-reasoning-tokens", "-1"), ("--max-answer-tokens", "0"),
     ("--device", "gpu"), ("--bind", "localhost:5555")],
)  # fmt: skip
def test_serve_refuses_a_bad_setting_before_loading_anything(flag: str, value: str, capsys) -> None:  # noqa: ANN001
    """--max-batch 0 used to be accepted, and every request then waited forever."""
    argparse_refuses(server_main, ["serve", "--engine", "null", flag, value], capsys, flag)


def test_a_missing_or_unservable_model_is_named_before_torch_is_imported(tmp_path) -> None:  # noqa: ANN001
    """--model /missing took 11 s (torch first) to say so; a text-only checkpoint or another
    architecture said "Unrecognized processing class" or raised ImportError."""
    text_only, other = tmp_path / "text-only", tmp_path / "other"
    text_only.mkdir()
    (text_only / "config.json").write_text(json.dumps({"model_type": "qwen2", "hidden_size": 64}))
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "llava", "vision_config": {}}))
    code = (
        "import sys; from evlm_server.cli import server_main; "
        "rc = server_main(['serve', '--model', sys.argv[1], '--bind', 'tcp://127.0.0.1:0']); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)"
    )
    for model, needle in ((tmp_path / "missing", "not found"), (text_only, "text-only"), (other, "'llava'")):
        proc = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        if model != tmp_path / "missing":
            assert "Qwen2-VL (qwen2_vl)" in proc.stderr and "Qwen3-VL (qwen3_vl)" in proc.stderr


def test_cuda_on_a_cpu_only_torch_is_an_error_not_a_traceback(capsys) -> None:  # noqa: ANN001
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert server_main(["serve", "--device", "cuda", "--bind", "tcp://127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert "cuda" in err and "--device cpu" in err and "Traceback" not in err


def test_evlm_eval_refuses_an_unknown_device(capsys) -> None:  # noqa: ANN001
    from training.eval.cli import main as eval_main

    argparse_refuses(eval_main, ["--model", "m", "--data", "d", "--device", "gpu"], capsys, "unknown device 'gpu'")


def test_client_commands_name_a_bad_endpoint_or_key_folder(tmp_path, capsys) -> None:  # noqa: ANN001
    argparse_refuses(
        server_main, ["ping", "--endpoint", "localhost:5555"], capsys, "did you mean tcp://localhost:5555?"
    )
    batch = every_cli()["evlm-batch"]  # each job used to end `internal` with a ZMQError trace
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "a.obj").write_text("v 0 0 0\n")
    batch_args = ["--scenes", str(tmp_path / "scenes"), "-i", "x", "--out", str(tmp_path / "out")]
    argparse_refuses(batch, [*batch_args, "--endpoint", "localhost:5555"], capsys, "did you mean tcp://localhost:5555?")
    assert batch([*batch_args, "--curve-dir", str(tmp_path / "nope")]) == 2
    assert "nope: no such folder" in capsys.readouterr().err
    assert server_main(["ping", "--curve-dir", str(tmp_path / "nope")]) == 2
    assert "nope: no such folder" in capsys.readouterr().err
    assert server_main(["info", "--server-key", str(tmp_path / "x.key")]) == 2
    assert "both --server-key and --client-key" in capsys.readouterr().err
    (tmp_path / "x.key").write_text("not a key")
    assert server_main(["ping", "--server-key", str(tmp_path / "x.key"), "--client-key", str(tmp_path / "x.key")]) == 2
    assert "x.key: not a readable CURVE public key file" in capsys.readouterr().err


def test_suggest_refuses_bad_arguments_without_a_dump(request_files, tmp_path, capsys) -> None:  # noqa: ANN001
    scene, views = request_files
    base = ["suggest", "--scene", str(scene), "--views", str(views)]
    assert main([*base, "-i", "  "]) == 2
    assert "instruction is empty" in capsys.readouterr().err
    assert main([*base, "-i", "x" * 2001]) == 2
    assert "limit 2000" in capsys.readouterr().err
    argparse_refuses(main, [*base, "-i", "x", "--max-suggestions", "0"], capsys, "--max-suggestions")
    blend = tmp_path / "scene.blend"
    blend.write_bytes(b"BLENDER-v500REND\x00\x01secret-bytes" + bytes(range(256)) * 40)
    assert main(["suggest", "--scene", str(blend), "--views", str(views), "-i", "x"]) == 2
    err = capsys.readouterr().err
    assert "not a scene graph JSON file (a .blend file?" in err and "secret-bytes" not in err and len(err) < 300
    huge = tmp_path / "objects.json"
    huge.write_text(json.dumps({"objects": [{"name": "n" * 300, "location": "secret-value"}]}))
    assert main(["suggest", "--scene", str(huge), "--views", str(views), "-i", "x"]) == 2
    err = capsys.readouterr().err
    assert "objects.0.name" in err and "secret-value" not in err and "n" * 300 not in err


def every_cli():  # noqa: ANN201
    from evlm_batch.cli import main as batch_main
    from training.cli import main as train_main
    from training.eval.cli import main as eval_main
    from training.synth.cli import main as synth_main

    return {"evlm-server": server_main, "evlm": main, "evlm-batch": batch_main, "evlm-eval": eval_main,
            "evlm-train": train_main, "evlm-synth": synth_main}  # fmt: skip


def test_every_cli_has_version(capsys) -> None:  # noqa: ANN001
    from evlm.cliargs import package_version

    for name, fn in every_cli().items():
        try:
            rc = fn(["--version"])
        except SystemExit as e:
            rc = e.code
        out = capsys.readouterr().out
        assert rc == 0 and out.strip() == f"{name} {package_version()}", (name, out)
    assert package_version()[0].isdigit()  # blender_addon/headless.py: tests/blender/test_headless.py


def test_every_client_cli_takes_the_same_curve_flags(tmp_path) -> None:  # noqa: ANN001
    """One convention: --server-key + --client-key (the files keygen says to give a client) or
    --curve-dir (a keygen folder), in every tool that talks to a server."""
    import argparse

    from evlm.cliargs import add_client_args, curve_keys

    assert server_main(["keygen", "--dir", str(tmp_path / "k")]) == 0
    parser = argparse.ArgumentParser()
    add_client_args(parser, timeout_s=1.0)
    by_files = curve_keys(parser.parse_args(["--server-key", str(tmp_path / "k/server.key"),
                                             "--client-key", str(tmp_path / "k/clients/client0.key_secret")]))  # fmt: skip
    by_dir = curve_keys(parser.parse_args(["--curve-dir", str(tmp_path / "k")]))
    assert by_files == by_dir and by_dir.load()[2]
    with pytest.raises(ValueError, match="not both"):
        curve_keys(parser.parse_args(["--curve-dir", str(tmp_path / "k"), "--server-key", "x"]))
    for name, source in (("evlm", "evlm/cli.py"), ("evlm-server", "evlm_server/cli.py"),
                         ("evlm-batch", "evlm_batch/cli.py"), ("headless", "blender_addon/headless.py")):  # fmt: skip
        text = (Path(__file__).resolve().parent.parent / source).read_text()
        assert "add_client_args(" in text or "add_curve_args(" in text, name
        assert '"--server-key"' not in text and '"--client-key"' not in text, name
