"""A fake OpenAI-compatible chat-completions server for the interop app's agent.

How this works: the beta.9 and 2.x interop apps register a provider ``fake`` (``api:
'openai-completions'``) whose base URL is ``$FLUE_FAKE_MODEL_URL`` (``<url>/v1``), so every
model call of their agent (beta.9's ``assistant``, 2.x's ``Assistant``) arrives here as ``POST
/v1/chat/completions`` (the path the OpenAI SDK inside pi-ai appends to the base URL). No real
model API is ever called.

The answer is derived from the last user message's text. Leading directives, each a word ending
in ``:`` and any number of them, change how it is answered; the rest is the *text*:

- ``slow:`` / ``slow<ms>:`` - wait 200 ms (or ``<ms>``) before each token, so abort and live
  observation can be tested mid-reply;
- ``fail:`` / ``fail<status>:`` - answer 400 (or ``<status>``) with an OpenAI-style error body:
  a model failure. Flue fails the submission at once for a 4xx; a 5xx body says
  ``server_error``, which Flue treats as transient and retries three times with backoff
  (2 s, 4 s, 8 s, less jitter: about 11 s in all) before failing;
- ``think:`` - stream a reasoning part (``reasoning_content``) before the text;
- ``tool:`` - call the app's ``echo`` tool with ``{"text": text}`` (the agent runs it, then asks
  again with the tool result; that second answer is ``tool said: <result>``);
- ``words<n>:`` - the reply is ``n`` numbered words instead of the echo.

Otherwise the reply is ``echo: <text>``, plus `` [images: n]`` when the message carried image
parts (Flue sends none: ``fake/echo`` is not vision-capable, so it replaces prompt images with a
text note that the echo repeats), streamed as one token per word (``"echo:"``, ``" hello"``,
...). Streaming requests (the only kind pi-ai sends) get ``text/event-stream`` chunks
``data: {...}`` then ``data: [DONE]``; a request with ``"stream": false`` gets one
``chat.completion`` object. Tool call ids are ``call_fake<n>``, unique per request.

``GET /_fake/requests`` answers the JSON bodies received so far (for tests that check what
the model was sent). :class:`FakeModelServer` runs in a thread of the calling process and binds
127.0.0.1 on an ephemeral port; ``python -m tools.flue_servers.fakemodel`` serves in the
foreground.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tools.flue_servers.lifecycle import LOOPBACK, LocalServer

__all__ = ["DEFAULT_SLOW_MS", "URL_ENV", "FakeModelServer", "Reply", "plan_reply"]

#: Environment variable the app's provider registration reads its base URL from.
URL_ENV = "FLUE_FAKE_MODEL_URL"
#: Per-token delay of the ``slow:`` directive.
DEFAULT_SLOW_MS = 200
#: Name of the tool the interop agents declare (``versions/beta9/src/agents/assistant.ts``,
#: ``v2/src/agents/assistant.ts``).
TOOL_NAME = "echo"
MODEL_ID = "echo"

_DIRECTIVE = re.compile(r"^(slow\d*|fail\d*|think|tool|words\d+):\s*")


class Reply:
    """How one request is answered (see the module docstring)."""

    def __init__(self) -> None:
        self.delay_s = 0.0
        self.fail = 0  # HTTP status of a forced failure, 0: none
        self.reasoning: list[str] = []
        self.tokens: list[str] = []
        self.tool_args: dict[str, Any] | None = None
        self.call_id = "fake"


def _text_of(content: Any) -> tuple[str, int]:
    """The text and image count of a chat message's ``content`` (string or parts)."""
    if isinstance(content, str):
        return content, 0
    texts: list[str] = []
    images = 0
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") in ("image_url", "image"):
                images += 1
    return "".join(texts), images


def _words(text: str) -> list[str]:
    """Split into tokens that join back to ``text``: each word with its leading spaces."""
    return re.findall(r"\s*\S+", text) or [text]


def plan_reply(body: dict[str, Any]) -> Reply:
    """Decide the answer to one chat-completions request body."""
    reply = Reply()
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    if last.get("role") == "tool":
        result, _ = _text_of(last.get("content"))
        reply.tokens = _words(f"tool said: {result}")
        return reply
    user = next(
        (m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), {}
    )
    text, images = _text_of(user.get("content"))
    words = 0
    while True:
        match = _DIRECTIVE.match(text)
        if match is None:
            break
        name = match.group(1)
        text = text[match.end() :]
        if name.startswith("slow"):
            reply.delay_s = int(name[4:] or DEFAULT_SLOW_MS) / 1000
        elif name.startswith("fail"):
            reply.fail = int(name[4:] or 400)
        elif name == "think":
            reply.reasoning = _words(f"thinking about {text}")
        elif name == "tool":
            reply.tool_args = {"text": text}
        else:
            words = int(name[5:])
    if words:
        reply.tokens = [("" if i == 0 else " ") + f"w{i}" for i in range(words)]
    else:
        suffix = f" [images: {images}]" if images else ""
        reply.tokens = _words(f"echo: {text}{suffix}")
    return reply


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/_fake/requests":
            with self.server.lock:
                self._send_json(200, list(self.server.received))
        else:
            self._send_json(404, {"error": {"message": "not found", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, {"error": {"message": "not found", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "bad JSON", "type": "invalid_request"}})
            return
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "not an object", "type": "invalid"}})
            return
        with self.server.lock:
            self.server.received.append(body)
            self.server.counter += 1
            completion_id = f"chatcmpl-fake{self.server.counter}"
        reply = plan_reply(body)
        reply.call_id = completion_id.removeprefix("chatcmpl-")
        if reply.fail:
            kind = "server_error" if reply.fail >= 500 else "invalid_request_error"
            self._send_json(
                reply.fail, {"error": {"message": "the fake model was told to fail", "type": kind}}
            )
            return
        if body.get("stream"):
            self._stream(reply, completion_id, str(body.get("model", MODEL_ID)))
        else:
            self._whole(reply, completion_id, str(body.get("model", MODEL_ID)))

    def _wait(self, reply: Reply) -> bool:
        """Pause before a token; False when the server is stopping."""
        return not (reply.delay_s and self.server.stopping.wait(reply.delay_s))

    def _whole(self, reply: Reply, completion_id: str, model: str) -> None:
        for _ in reply.tokens:
            if not self._wait(reply):
                return
        message: dict[str, Any] = {"role": "assistant", "content": "".join(reply.tokens)}
        finish = "stop"
        if reply.tool_args is not None:
            message = {"role": "assistant", "content": None, "tool_calls": [_tool_call(reply)]}
            finish = "tool_calls"
        elif reply.reasoning:
            message["reasoning_content"] = "".join(reply.reasoning)
        self._send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": _usage(reply),
            },
        )

    def _stream(self, reply: Reply, completion_id: str, model: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for chunk in _chunks(reply, completion_id, model):
                if chunk.get("choices") and chunk["choices"][0]["delta"] and not self._wait(reply):
                    return
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return  # the caller aborted the request mid-reply


def _tool_call(reply: Reply) -> dict[str, Any]:
    return {
        "id": f"call_{reply.call_id}",
        "type": "function",
        "function": {"name": TOOL_NAME, "arguments": json.dumps(reply.tool_args)},
    }


def _usage(reply: Reply) -> dict[str, int]:
    out = len(reply.tokens) + len(reply.reasoning)
    return {"prompt_tokens": 10, "completion_tokens": out, "total_tokens": 10 + out}


def _chunks(reply: Reply, completion_id: str, model: str) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for token in reply.reasoning:
        yield chunk({"reasoning_content": token})
    if reply.tool_args is not None:
        call = _tool_call(reply)
        yield chunk({"tool_calls": [{"index": 0, **call}]})
        yield chunk({}, "tool_calls")
    else:
        for token in reply.tokens:
            yield chunk({"content": token})
        yield chunk({}, "stop")
    yield {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [],
        "usage": _usage(reply),
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.counter = 0
        self.stopping = threading.Event()


class FakeModelServer(LocalServer):
    """The fake chat-completions server, in a thread (context manager).

    ``url`` is ``http://127.0.0.1:PORT`` (no trailing slash); the provider's base URL is
    ``base_url`` (``url + "/v1"``). ``stop()`` wakes any slow reply and closes the socket.
    """

    label = "fake model server"

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def _start(self) -> None:
        server = _Server()
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def _stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def received(self) -> list[dict[str, Any]]:
        """Copies of the request bodies received so far."""
        if self._server is None:
            return []
        with self._server.lock:
            return list(self._server.received)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.flue_servers.fakemodel", description=__doc__.split("\n\n")[0]
    )
    parser.parse_args(argv)
    with FakeModelServer() as fake:
        print(f"{URL_ENV}={fake.base_url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
