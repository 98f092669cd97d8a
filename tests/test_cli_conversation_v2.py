"""`flue conversation ...` against flue.testing's Flue 2.x fake: signals, uid conditions,
idempotency keys, initial data, and the 2.x errors as one line with their meta."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from flue._cli.main import main
from flue.testing import FlueTestServer
from tests.conftest import TOKEN


@pytest.fixture
def server2() -> Iterator[FlueTestServer]:
    with FlueTestServer.running_in_thread(
        line="2", token=TOKEN, long_poll_timeout=1.0, sse_keepalive=1.0, sse_heartbeat=0.5
    ) as srv:
        yield srv


def conv_cli(server: FlueTestServer, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = ["conversation", *argv, "--base-url", server.url, "--token", TOKEN]
    code = main(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_a_signal_is_delivered(server2: FlueTestServer) -> None:
    argv = ["send", "agents/assistant/v1", "build passed", "--signal", "webhook"]
    code, out, err = conv_cli(server2, *argv, "--attribute", "repo=flue")
    assert code == 0 and out.startswith("sub_") and out.count("\n") == 1
    assert err.startswith("conversation uid: inst_")
    code, out, _ = conv_cli(server2, "prompt", "agents/assistant/v1", "hi")
    assert (code, out) == (0, "echo: hi\n")
    code, out, _ = conv_cli(server2, "history", "agents/assistant/v1")
    assert out.startswith(
        'system: build passed\nassistant: echo: <signal type="webhook" repo="flue">\n'
    )
    assert out.endswith("user: hi\nassistant: echo: hi\n")


def test_idempotency_key_uid_and_create_only(server2: FlueTestServer) -> None:
    url = "agents/assistant/v2"
    code, first, _ = conv_cli(server2, "send", url, "hi", "--idempotency-key", "k1", "--json")
    admission = json.loads(first)
    assert code == 0 and admission["uid"].startswith("inst_") and not admission.get("deduplicated")
    code, out, err = conv_cli(server2, "send", url, "hi", "--idempotency-key", "k1")
    assert (code, out) == (0, admission["submissionId"] + "\n")
    assert err.startswith("deduplicated: this idempotency key was sent before")
    code, out, _ = conv_cli(server2, "prompt", url, "again", "--uid", admission["uid"])
    assert (code, out) == (0, "echo: again\n")
    code, out, err = conv_cli(server2, "send", url, "hi", "--create-only")
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert "--create-only refused" in err
    assert err.endswith(f'meta: {{"uid": "{admission["uid"]}"}}\n')
    code, _, err = conv_cli(server2, "send", url, "hi", "--uid", "inst_other")
    assert code == 1 and "agent_instance_not_found" in err and "Send without --uid" in err


def test_initial_data_and_a_plain_404(server2: FlueTestServer) -> None:
    argv = ["prompt", "agents/assistant/v3", "tool: x", "--initial-data", '{"a": 1}']
    code, out, err = conv_cli(server2, *argv)
    assert (code, err) == (0, "")
    assert out == '[tool echo({"text": "x"})]\ntool said: {"echoed":"x"}\n'
    code, out, err = conv_cli(server2, "history", "nothing/v1")
    assert code == 1 and out == ""
    assert "(a plain 404, not one of Flue's JSON errors)" in err
