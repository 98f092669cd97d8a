"""nginx in front of the real Flue server, configured like a typical deployment.

:class:`NginxFront` writes an ``nginx.conf`` into a temporary directory and runs Debian's
``nginx-light`` in the foreground (``daemon off``), listening on a free 127.0.0.1 port and
proxying to a :class:`~tools.flue_servers.server.RealFlueServer`:

* TLS is terminated at nginx, with a server certificate for ``127.0.0.1`` issued by a local CA
  made with ``trustme``; clients are given that CA (``client_options`` holds ``verify=``);
* ``gzip on`` with ``gzip_types application/json`` (and ``gzip_proxied any``): JSON reads,
  run records and invoke answers arrive gzip-encoded to a client that accepts gzip;
* SSE reads (``?live=sse``) are proxied unbuffered (``proxy_buffering off``), everything else
  with nginx's default buffering; HTTP/1.1 with keep-alive to the upstream, whose keep-alive
  timeout is below Node's 5 s so nginx never reuses a connection Node is closing;
* ``proxy_read_timeout`` (default 10 s) is shorter than Flue's 30 s long-poll window and its
  15 s SSE heartbeat, so an idle long-poll is answered 504 by nginx and an idle SSE connection
  is cut after the timeout (nginx ends the chunked body without its last chunk).

Nothing outside the temporary directory is read or written (no ``/etc/nginx``: the few MIME
types are inline). The access log is one JSON object per request (:meth:`NginxFront.requests`)
so tests can see what nginx did: statuses, encodings, how long each request was held.

The process is started with ``Popen`` in its own session and stopped by its PID (SIGTERM, then
SIGKILL to its process group, which holds only the master and its worker). If the port picked
was taken in the meantime, startup is retried on another one.

Command line (run from the repository root), for trying a client by hand::

    python -m tools.flue_servers.nginx [--read-timeout 10] [--flue-version beta9]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import trustme

from tools.flue_servers.lifecycle import (
    LocalServer,
    free_port,
    serve_in_foreground,
    stop_on_sigterm,
    stop_process,
)
from tools.flue_servers.releases import mount_url
from tools.flue_servers.server import RealFlueServer

__all__ = [
    "NGINX_ENV",
    "NginxFront",
    "NginxStartError",
    "NginxUnavailable",
    "find_nginx",
    "nginx_version",
    "render_config",
]

#: Environment variable naming the nginx binary (default: ``nginx`` on PATH, else /usr/sbin).
NGINX_ENV = "FLUE_INTEROP_NGINX"

_PORT_ATTEMPTS = 8


class NginxUnavailable(RuntimeError):
    """No nginx binary was found."""


class NginxStartError(RuntimeError):
    """nginx exited or did not answer before the deadline."""


def find_nginx() -> Path:
    """The nginx binary: ``$FLUE_INTEROP_NGINX``, else ``nginx`` on PATH, else /usr/sbin/nginx."""
    explicit = os.environ.get(NGINX_ENV)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise NginxUnavailable(f"{NGINX_ENV}={explicit} is not an executable file.")
        return Path(explicit)
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise NginxUnavailable(
            "nginx is not installed, and the nginx topology tests need it. Install it "
            "(Debian/Ubuntu: `apt-get install -y nginx-light`; .ci/run does so) or point "
            f"{NGINX_ENV} at an nginx binary."
        )
    return Path(found)


def nginx_version(binary: Path) -> str:
    """``1.22.1`` for ``nginx version: nginx/1.22.1`` (nginx prints it on stderr)."""
    proc = subprocess.run(
        [str(binary), "-v"], capture_output=True, text=True, timeout=30, check=False
    )
    match = re.search(r"nginx/(\S+)", proc.stderr + proc.stdout)
    return match.group(1) if match else "unknown"


#: One JSON object per request in the access log (:meth:`NginxFront.requests`).
_LOG_FORMAT = (
    '{"request":"$request","args":"$args","status":$status,'
    '"upstream_status":"$upstream_status","request_time":$request_time,'
    '"upstream_response_time":"$upstream_response_time","bytes_sent":$bytes_sent,'
    '"content_type":"$sent_http_content_type",'
    '"content_encoding":"$sent_http_content_encoding",'
    '"accept_encoding":"$http_accept_encoding","completion":"$request_completion",'
    '"msec":$msec}'
)


def render_config(
    *,
    port: int,
    upstream_port: int,
    workdir: Path,
    cert: Path,
    key: Path,
    read_timeout: float,
    run_as_root: bool,
) -> str:
    """The whole ``nginx.conf``: the deployment part (``http``) and the paths of a test run."""
    tmp = workdir
    timeout = f"{read_timeout:g}s"
    # as root, nginx would switch its worker to `nobody`, which cannot use this private tmp dir
    user = "user root;\n" if run_as_root else ""
    return f"""\
# written by tools/flue_servers/nginx.py; everything lives in {tmp}
daemon off;
master_process on;
worker_processes 1;
{user}pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{
    worker_connections 256;
}}

http {{
    types {{
        application/json json;
        text/html html;
        text/plain txt;
    }}
    default_type application/octet-stream;
    log_format flue escape=json '{_LOG_FORMAT}';
    access_log {tmp}/access.log flue;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    # --- the deployment (docs/deploying.md) ---
    gzip on;
    gzip_proxied any;
    gzip_types application/json;
    gzip_vary on;

    upstream flue {{
        server 127.0.0.1:{upstream_port};
        keepalive 16;
        keepalive_timeout 4s;  # below Node's 5 s, so nginx never reuses a closing connection
    }}

    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        # shorter than Flue's 30 s long-poll window and 15 s SSE heartbeat: an idle long-poll
        # is answered 504 and an idle SSE connection is cut after this long
        proxy_read_timeout {timeout};

        location / {{
            # SSE reads go to @sse (unbuffered); the rest is buffered as usual
            error_page 418 = @sse;
            if ($arg_live = "sse") {{
                return 418;
            }}
            proxy_pass http://flue;
        }}

        location @sse {{
            proxy_pass http://flue;
            proxy_buffering off;
            proxy_cache off;
        }}
    }}
}}
"""


class NginxFront(LocalServer):
    """nginx on ``https://127.0.0.1:PORT`` in front of a running real Flue server.

    Same face as the server it fronts for the tests (``url``, ``token``, ``kind``,
    ``flue_version``, ``flue_release``, ``line``, ``mounts``, ``agents_mount``,
    ``conversation_mount``, ``running``, ``log_tail()``), plus ``client_options``
    (``{"verify": <CA file>}``, to pass to a client), ``ca_path``, ``read_timeout``, ``pid``,
    ``nginx_version`` and :meth:`requests` (the access log).
    """

    kind = "real"
    label = "nginx"

    def __init__(
        self,
        upstream: RealFlueServer,
        *,
        read_timeout: float = 10.0,
        startup_timeout: float = 15.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.upstream = upstream
        self.read_timeout = read_timeout
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.url = ""
        self.port = 0
        self.pid: int | None = None
        self.ca_path: Path | None = None
        self.nginx_version = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._final_error_log = ""
        self._final_access_log = ""

    # -- what the tests use --------------------------------------------------------------------

    @property
    def token(self) -> str:
        return self.upstream.token

    @property
    def flue_version(self) -> str:
        return self.upstream.flue_version

    @property
    def flue_release(self) -> str:
        return self.upstream.flue_release

    @property
    def line(self) -> str:
        return self.upstream.line

    @property
    def mounts(self) -> dict[str, str]:
        """The upstream's agent mounts (paths: nginx proxies every path unchanged)."""
        return self.upstream.mounts

    @property
    def agents_mount(self) -> str | None:
        return mount_url(self.url, self.mounts, "agents")

    @property
    def conversation_mount(self) -> str | None:
        return mount_url(self.url, self.mounts, "conversation")

    @property
    def client_options(self) -> dict[str, Any]:
        """Keyword arguments a client needs to talk to this front (the CA, as ``verify=``)."""
        assert self.ca_path is not None, "start() first"
        return {"verify": str(self.ca_path)}

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and self.upstream.running

    def describe(self) -> str:
        return (
            f"nginx {self.nginx_version} (https, gzip, proxy_read_timeout "
            f"{self.read_timeout:g}s) in front of Flue {self.flue_release}"
        )

    def log_tail(self, limit: int | None = 4000) -> str:
        """nginx's error log, then the Flue server's log (each cut to ``limit`` characters)."""
        text = self._read("error.log", self._final_error_log)
        nginx = text if limit is None else text[-limit:]
        return f"--- nginx error log ---\n{nginx}\n--- Flue server log ---\n" + (
            self.upstream.log_tail(limit)
        )

    def error_log(self) -> str:
        return self._read("error.log", self._final_error_log)

    def requests(self, *, settle: bool = True) -> list[dict[str, Any]]:
        """Every request nginx has finished so far, oldest first (its JSON access log).

        Keys: ``request`` (``GET /runs/... HTTP/1.1``), ``args``, ``status`` (int),
        ``upstream_status``, ``request_time`` (float, s), ``upstream_response_time``,
        ``bytes_sent``, ``content_type``, ``content_encoding``, ``accept_encoding``,
        ``completion`` (``OK`` when nginx sent the whole response), ``msec`` (when it ended:
        Unix time, ms resolution; ``msec - request_time`` is when its first bytes came).

        nginx logs a request just after sending its response, so a client can hold the answer
        before its line is written. With ``settle`` (the default) a marker request is sent
        first and the log read once the marker's line is there: the one worker process handles
        events in order, so every request answered before the marker was sent is in the log.
        """
        if settle and self._proc is not None:
            marker = f"/log-marker-{uuid.uuid4().hex}"
            self._get(marker)
            deadline = time.monotonic() + 10
            while marker not in self._read("access.log", ""):
                if time.monotonic() >= deadline:
                    raise AssertionError(f"nginx did not log {marker} within 10 s")
                time.sleep(0.01)  # poll interval, bounded by the deadline above
        text = self._read("access.log", self._final_access_log)
        entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        return [e for e in entries if "/log-marker-" not in e["request"]]

    # -- lifecycle -----------------------------------------------------------------------------

    def _start(self) -> None:
        if not self.upstream.running:
            raise NginxStartError("the Flue server behind nginx is not running")
        binary = find_nginx()
        self.nginx_version = nginx_version(binary)
        self._tmp = tempfile.TemporaryDirectory(prefix="flue-nginx-")
        tmp = Path(self._tmp.name)
        self._write_certificates(tmp)
        # the port picked may be taken between its check and nginx's bind: try another
        for _ in range(_PORT_ATTEMPTS):
            if self._launch(binary, tmp, free_port()):
                return
        raise NginxStartError(
            f"nginx could not bind a free port in {_PORT_ATTEMPTS} attempts:\n"
            + self.error_log()[-2000:]
        )

    def _write_certificates(self, tmp: Path) -> None:
        ca = trustme.CA()
        issued = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        with open(tmp / "server.pem", "wb") as chain:
            for blob in issued.cert_chain_pems:
                chain.write(blob.bytes())
        issued.private_key_pem.write_to_path(str(tmp / "server.key"))

    def _launch(self, binary: Path, tmp: Path, port: int) -> bool:
        """Start nginx on ``port``; False when that port turned out to be taken."""
        config = tmp / "nginx.conf"
        config.write_text(
            render_config(
                port=port,
                upstream_port=self.upstream.port,
                workdir=tmp,
                cert=tmp / "server.pem",
                key=tmp / "server.key",
                read_timeout=self.read_timeout,
                run_as_root=os.geteuid() == 0,
            )
        )
        (tmp / "error.log").write_bytes(b"")
        self.port = port
        self.url = f"https://127.0.0.1:{port}"
        self._proc = subprocess.Popen(
            # -e: the error log before the configuration is read (else /var/log/nginx)
            [str(binary), "-p", str(tmp), "-c", str(config), "-e", str(tmp / "error.log")],
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid = self._proc.pid
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                log = self.error_log()
                self._proc = None
                self.pid = None
                if "Address already in use" in log:
                    return False
                raise NginxStartError(f"nginx exited with code {code} during startup:\n{log}")
            if self._answers():
                return True
            if time.monotonic() >= deadline:
                raise NginxStartError(
                    f"nginx did not answer within {self.startup_timeout:.0f}s:\n" + self.log_tail()
                )
            time.sleep(0.05)  # poll interval, bounded by the deadline above

    def _answers(self) -> bool:
        """True once a request through nginx reaches Flue (an unknown run: its JSON 404)."""
        try:
            return self._get("/runs/readiness-probe") not in (502, 503, 504)
        except (urllib.error.URLError, OSError):
            return False

    def _get(self, path: str) -> int:
        """GET ``path`` through nginx (trusting its CA); the status."""
        assert self.ca_path is not None
        context = ssl.create_default_context(cafile=str(self.ca_path))
        request = urllib.request.Request(f"{self.url}{path}", method="GET")
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code

    def _stop(self) -> None:
        """Stop nginx by its PID (SIGTERM: fast shutdown), killing its group if it lingers."""
        proc, self._proc = self._proc, None
        if proc is not None:
            # its own session: the group is this master and its worker, nothing else
            stop_process(proc, self.stop_timeout, kill_group=True)
        if self._tmp is not None:
            self._final_error_log = self._read("error.log", "")
            self._final_access_log = self._read("access.log", "")
            self._tmp.cleanup()
            self._tmp = None

    def _read(self, name: str, final: str) -> str:
        if self._tmp is None:
            return final
        path = Path(self._tmp.name) / name
        return path.read_text(errors="replace") if path.exists() else ""

    def __repr__(self) -> str:
        return f"NginxFront(url={self.url!r}, pid={self.pid}, upstream={self.upstream!r})"


@contextlib.contextmanager
def nginx_front(upstream: RealFlueServer, **kwargs: Any) -> Iterator[NginxFront]:
    """Functional spelling of ``with NginxFront(...) as front``."""
    with NginxFront(upstream, **kwargs) as front:
        yield front


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.flue_servers.nginx",
        description="Run the real Flue server behind nginx (TLS, gzip) in the foreground.",
    )
    parser.add_argument("--read-timeout", type=float, default=10.0)
    parser.add_argument("--flue-version", help="Flue release (default: $FLUE_INTEROP_VERSION)")
    args = parser.parse_args(argv)
    stop = stop_on_sigterm()
    with (
        RealFlueServer(flue_version=args.flue_version) as server,
        NginxFront(server, read_timeout=args.read_timeout) as front,
    ):
        print(front.describe(), flush=True)
        assert front.ca_path is not None
        token_file = front.ca_path.with_name("token")  # the token is never printed
        token_file.touch(mode=0o600)
        token_file.write_text(front.token)
        print(f"FLUE_URL={front.url}\ntoken in {token_file}", flush=True)
        print(f"CA: {front.ca_path} (verify=...)\nnginx pid {front.pid}", flush=True)
        return serve_in_foreground(front, stop)


if __name__ == "__main__":
    sys.exit(main())
