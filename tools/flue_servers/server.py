"""The real Flue server: the provisioned interop app running on 127.0.0.1 (context manager).

How this works (:class:`RealFlueServer`):

1. provisions the release (:func:`~tools.flue_servers.provision.provision`, cached);
2. for a release whose app has agents (beta9 and the 2.x line), starts the fake
   chat-completions server of :mod:`tools.flue_servers.fakemodel` first (a thread, 127.0.0.1,
   ephemeral port) and passes its base URL to the server in ``$FLUE_FAKE_MODEL_URL``;
3. starts the server bound to 127.0.0.1 on a free port and waits until it answers;
4. stops it by its PID (terminate, wait, kill on timeout), then the fake model.

``app/bind-loopback.mjs`` is preloaded with ``node --import``: it fills in 127.0.0.1 for any
``listen()`` call without a host (1.0's generated server names none) and writes the port the
kernel picked for ``PORT=0`` to a file this module reads (for both lines).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from tools.flue_servers.fakemodel import URL_ENV as FAKE_MODEL_URL_ENV
from tools.flue_servers.fakemodel import FakeModelServer
from tools.flue_servers.lifecycle import LOOPBACK, LocalServer, stop_process
from tools.flue_servers.node import node_env
from tools.flue_servers.provision import provision
from tools.flue_servers.releases import (
    FLUE_VERSIONS,
    TOKEN_ENV,
    mount_url,
    release_has_agents,
    release_line,
    release_mounts,
    resolve_flue_version,
)

__all__ = ["RealFlueServer", "ServerStartError", "real_flue_server"]


class ServerStartError(RuntimeError):
    """The server process exited or did not answer before the deadline."""


class RealFlueServer(LocalServer):
    """A running interop app on 127.0.0.1 (context manager).

    Attributes: ``url`` (``http://127.0.0.1:PORT``, no trailing slash), ``token``,
    ``kind`` (``"real"``), ``pid``, ``log_path``, ``flue_version`` (short name, e.g.
    ``"beta9"``, ``"v2_1_0"``), ``flue_release`` (the ``@flue/runtime`` version,
    ``"1.0.0-beta.9"``, ``"2.1.0"``), ``line`` (``"1.0"`` or ``"2"``), ``mounts`` (where the
    agent is served, as paths: see :func:`release_mounts`), ``agents_mount`` and
    ``conversation_mount`` (the same as absolute URLs once started; None where the release has
    no such mount), ``app_dir`` (the release's work directory, set by ``start()``) and
    ``fake_model`` (the :class:`FakeModelServer` the agents call, running while the server
    does; None for a release without agents).
    """

    kind = "real"
    label = "server"

    def __init__(
        self,
        token: str | None = None,
        *,
        cache_dir: Path | str | None = None,
        flue_version: str | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 15.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.token = token if token is not None else secrets.token_urlsafe(24)
        self.cache_dir = cache_dir
        self.flue_version = resolve_flue_version(flue_version)
        self.flue_release = FLUE_VERSIONS[self.flue_version]
        self.line = release_line(self.flue_version)
        self.mounts = release_mounts(self.flue_version)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.extra_env = dict(env or {})
        self.url = ""
        self.port = 0
        self.pid: int | None = None
        self.log_path: Path | None = None
        self.app_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._final_log = ""
        self._log_file: IO[bytes] | None = None
        self.fake_model: FakeModelServer | None = None

    @property
    def has_agents(self) -> bool:
        """Whether this release's app defines agents (they need the fake model)."""
        return release_has_agents(self.flue_version)

    @property
    def agents_mount(self) -> str | None:
        """``{url}/agents/assistant`` (append ``/{id}``): beta9 and 2.x; None otherwise."""
        return self._mount_url("agents")

    @property
    def conversation_mount(self) -> str | None:
        """``{url}/api/chat`` (append ``/{id}``): the 2.x app's own mount of the same agent,
        so ``/agents/assistant/c1`` and ``/api/chat/c1`` are one conversation; None on 1.0."""
        return self._mount_url("conversation")

    def _mount_url(self, which: str) -> str | None:
        return mount_url(self.url, self.mounts, which)

    # -- lifecycle -----------------------------------------------------------------------------

    def _start(self) -> None:
        prov = provision(self.cache_dir, self.flue_version)
        self.app_dir = prov.app_dir
        self._tmp = tempfile.TemporaryDirectory(prefix="flue-real-server-")
        tmp = Path(self._tmp.name)
        port_file = tmp / "port.json"
        self.log_path = tmp / "server.log"
        model_env: dict[str, str] = {}
        if self.has_agents:
            self.fake_model = FakeModelServer().start()
            model_env[FAKE_MODEL_URL_ENV] = self.fake_model.base_url
        env = node_env(
            prov.node,
            {
                "PORT": "0",
                "FLUE_TEST_HOST": LOOPBACK,
                "FLUE_TEST_PORT_FILE": str(port_file),
                TOKEN_ENV: self.token,
                "NODE_NO_WARNINGS": "1",
                **model_env,
                **self.extra_env,
            },
        )
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [str(prov.node), "--import", prov.preload.as_uri(), str(prov.server_entry)],
            cwd=prov.app_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self._proc.pid
        self._wait_ready(port_file)

    def _wait_ready(self, port_file: Path) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                raise ServerStartError(
                    f"Flue server exited with code {self._proc.returncode} during startup:\n"
                    + self.log_tail()
                )
            if not self.port and port_file.exists():
                info = json.loads(port_file.read_text())
                if info.get("host") != "127.0.0.1":
                    raise ServerStartError(f"server bound {info.get('host')}, not 127.0.0.1")
                self.port = int(info["port"])
                self.url = f"http://127.0.0.1:{self.port}"
            if self.port and self._answers():
                return
            if time.monotonic() >= deadline:
                raise ServerStartError(
                    f"Flue server did not answer within {self.startup_timeout:.0f}s:\n"
                    + self.log_tail()
                )
            time.sleep(0.05)  # poll interval, bounded by the deadline above

    def _answers(self) -> bool:
        """True once the HTTP app answers (1.0: an unknown run's JSON 404; 2: the app's own
        plain-text 404, 2.x has no runs)."""
        request = urllib.request.Request(f"{self.url}/runs/readiness-probe", method="GET")
        try:
            with urllib.request.urlopen(request, timeout=2):
                return True
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code != 503  # any answer but "unavailable" means the app is serving
        except (urllib.error.URLError, OSError):
            return False

    def _stop(self) -> None:
        """Terminate the server process (by PID), wait, and kill it if it does not exit; then
        the fake model."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, self.stop_timeout)
        log_file, self._log_file = self._log_file, None
        if log_file is not None:
            log_file.close()
        if self._tmp is not None:
            # Keep the log readable after stop: copy its text before the directory goes.
            self._final_log = self.log_tail(limit=None)
            self._tmp.cleanup()
            self._tmp = None
            self.log_path = None
        fake, self.fake_model = self.fake_model, None
        if fake is not None:
            fake.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def client_options(self) -> dict[str, object]:
        """Keyword arguments a client needs besides url and token: none for plain HTTP (the
        nginx front in ``nginx.py`` gives its CA as ``verify=``)."""
        return {}

    def log_tail(self, limit: int | None = 4000) -> str:
        """The server's combined stdout/stderr (the last ``limit`` characters)."""
        if self.log_path is not None and self.log_path.exists():
            text = self.log_path.read_text(errors="replace")
        else:
            text = self._final_log
        return text if limit is None else text[-limit:]

    def __repr__(self) -> str:
        return (
            f"RealFlueServer(url={self.url!r}, flue={self.flue_release}, pid={self.pid}, "
            f"running={self.running})"
        )


@contextlib.contextmanager
def real_flue_server(token: str | None = None, **kwargs: object) -> Iterator[RealFlueServer]:
    """Functional spelling of ``with RealFlueServer(...) as server``."""
    server = RealFlueServer(token, **kwargs)  # type: ignore[arg-type]
    with server:
        yield server
