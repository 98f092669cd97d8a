"""A real forward proxy for tests: Debian's `tinyproxy`, started and stopped by PID.

Each `TinyProxy` writes its own configuration into a temporary folder, listens on 127.0.0.1 on a
port picked by binding a socket first, runs in the foreground (``-d``) and logs to a file that
tests read to prove a request went through it. Under ``CI=true`` a missing tinyproxy fails the
test (``.ci/run`` installs it); locally the test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tools.flue_servers.lifecycle import LOOPBACK, LocalServer, free_port, stop_process

__all__ = ["TinyProxy", "free_port", "require_tinyproxy"]

INSTALL = "apt-get update && apt-get install -y tinyproxy"


def require_tinyproxy() -> str:
    """The tinyproxy executable; fails the test under CI=true when missing, else skips it."""
    path = shutil.which("tinyproxy") or (
        "/usr/bin/tinyproxy" if os.path.exists("/usr/bin/tinyproxy") else None
    )
    if path is None:
        reason = f"tinyproxy is not installed (as root: {INSTALL})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; .ci/run must install it", pytrace=False)
        pytest.skip(reason)
    return path


class TinyProxy(LocalServer):
    """tinyproxy on 127.0.0.1:<port>; optional Basic auth and allowed CONNECT ports."""

    label = "tinyproxy"

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        connect_ports: list[int] | None = None,
    ) -> None:
        self.executable = require_tinyproxy()
        self.auth = auth
        self.connect_ports = connect_ports
        self.port = 0
        self._dir = Path(tempfile.mkdtemp(prefix="flue-tinyproxy-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no credentials)."""
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        """The proxy URL carrying credentials."""
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """What tinyproxy has logged so far."""
        path = self._dir / "tinyproxy.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _start(self) -> None:
        for _ in range(5):  # the picked port may be taken between bind and tinyproxy's listen
            self.port = free_port()
            self._spawn()
            if self._ready():
                return
            self._end_process()
        raise RuntimeError(f"tinyproxy did not start; its log:\n{self.log}")

    def _stop(self) -> None:
        self._end_process()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _spawn(self) -> None:
        lines = [
            f"Port {self.port}",
            f"Listen {LOOPBACK}",
            "Timeout 60",
            "MaxClients 64",
            "Allow 127.0.0.1",
            "LogLevel Info",
            f'LogFile "{self._dir / "tinyproxy.log"}"',
        ]
        if self.auth is not None:
            lines.append(f"BasicAuth {self.auth[0]} {self.auth[1]}")
        for port in self.connect_ports or []:
            lines.append(f"ConnectPort {port}")
        config = self._dir / "tinyproxy.conf"
        config.write_text("\n".join(lines) + "\n")
        (self._dir / "tinyproxy.log").unlink(missing_ok=True)
        self._proc = subprocess.Popen(
            [self.executable, "-d", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _ready(self) -> bool:
        """Wait until tinyproxy accepts connections (or has exited)."""
        assert self._proc is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if "Starting main loop" in self.log:
                with socket.socket() as probe:
                    probe.settimeout(1)
                    if probe.connect_ex((LOOPBACK, self.port)) == 0:
                        return True
            time.sleep(0.01)  # polling for a condition, bounded by the deadline
        return False

    def _end_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, 10)  # our own child, by its PID
