"""End to end: an evlm-server process with a tiny random checkpoint, a client sending the sample
scene's 6 views, a schema-valid plan back that passes scene validation."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from evlm.client import Client, load_views
from evlm.edits import validate_plan
from evlm.scene import SceneGraph
from training.tiny import make_tiny_checkpoint

from .server_process import server_process

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample_scene"


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # noqa: ANN001
    tmp = tmp_path_factory.mktemp("e2e")
    model = make_tiny_checkpoint(tmp / "tiny", arch="qwen2_vl", seed=0)
    args = ("--model", str(model), "--device", "cpu", "--max-reasoning-tokens", "48", "--max-answer-tokens", "400")
    with server_process(tmp, *args) as (endpoint, proc):
        yield endpoint, proc


def test_six_views_give_a_plan_valid_for_the_scene(server) -> None:  # noqa: ANN001
    endpoint, _ = server
    scene = SceneGraph.model_validate_json((SAMPLE / "scene.json").read_text())
    views = load_views(SAMPLE / "views")
    assert len(views) == 6
    with Client(endpoint, timeout_s=120) as client:
        info = client.info()
        assert info.engine == "hf" and info.device == "cpu" and info.healthy
        result = client.suggest("make the corner feel cozier", views, scene)
    plan = validate_plan(result.plan, scene)  # the client re-checks what the server checked
    assert plan.suggestions and all(s.ops for s in plan.suggestions)
    assert result.tokens["answer"] > 0 and result.timings["total"] > 0


def test_plain_image_request_gets_a_generative_hand_off(server) -> None:  # noqa: ANN001
    endpoint, _ = server
    views = load_views(SAMPLE / "views")[:1]
    with Client(endpoint, timeout_s=120) as client:
        result = client.suggest("remove the lamp from the photo", views, None)
    plan = validate_plan(result.plan, None)
    ops = [op.op for s in plan.suggestions for op in s.ops]
    assert set(ops) == {"generative_edit"}


def test_server_stops_cleanly_on_sigterm(server) -> None:  # noqa: ANN001
    endpoint, proc = server
    views = load_views(SAMPLE / "views")
    scene = SceneGraph.model_validate_json((SAMPLE / "scene.json").read_text())
    with Client(endpoint, timeout_s=60) as client:
        rid = client.submit_suggest("warmer", views, scene)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        finals = []
        deadline = time.monotonic() + 60
        while not finals and time.monotonic() < deadline:
            finals = [e for e in client.poll(100) if e.id == rid and e.final]
    assert proc.wait(timeout=30) == 0
    assert [e.type for e in finals] in (["result"], ["error"])  # answered either way, exactly once
    if finals[0].type == "error":
        assert finals[0].message.code == "shutting_down"
