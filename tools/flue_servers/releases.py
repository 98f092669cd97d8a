"""The Flue releases the interop app is built for, and where each one's files live.

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

The app itself is ``tests/interop/app`` (:data:`APP_DIR`). Each release has its own committed
``package.json`` and ``package-lock.json`` under ``app/versions/<name>/`` and its own work
directory ``<cache>/interop-app/<name>/``, so all can be installed side by side. The release is
chosen by the ``flue_version`` argument, else ``$FLUE_INTEROP_VERSION``, else
:data:`DEFAULT_FLUE_VERSION`.

Sources: the line's shared sources plus, copied over them in the work directory, the release's
own ``versions/<name>/src/`` if any (the beta9 agent ``assistant``: agents need beta.9's
provider API), so each release's build key covers both.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "APP_DIR",
    "DEFAULT_FLUE_VERSION",
    "FLUE_LINES",
    "FLUE_VERSIONS",
    "LAYOUTS",
    "RELEASES",
    "REPO_ROOT",
    "TOKEN_ENV",
    "VERSIONS_DIR",
    "VERSION_ENV",
    "FlueRelease",
    "LineLayout",
    "ProvisionError",
    "line_layout",
    "log",
    "mount_url",
    "release_has_agents",
    "release_line",
    "release_mounts",
    "resolve_cache_dir",
    "resolve_flue_version",
    "work_dir",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The interop app: each line's sources (below), ``bind-loopback.mjs``, and the per-release
#: manifests in ``versions/<name>/``. Installs and builds happen in the cache, never here.
APP_DIR = REPO_ROOT / "tests" / "interop" / "app"
VERSIONS_DIR = APP_DIR / "versions"
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
#: Environment variable the app's middleware reads the bearer token from.
TOKEN_ENV = "FLUE_TEST_TOKEN"


@dataclass(frozen=True)
class LineLayout:
    """How one line's app is laid out, built and started (paths relative to the work dir)."""

    source_dir: Path  # copied into the work directory before a build
    sources: tuple[str, ...]  # the files and directories of source_dir that are copied
    build: tuple[str, ...]  # node script (in node_modules) and its arguments
    build_name: str  # the build command as a user would type it
    built: str  # the file the build must write
    entry: str  # the script node runs (with bind-loopback.mjs preloaded)
    mounts: Mapping[str, str]  # where the app serves its agent (when it has one)


LAYOUTS: dict[str, LineLayout] = {
    "1.0": LineLayout(
        source_dir=APP_DIR,
        sources=("src", "flue.config.ts"),
        build=("@flue/cli/bin/flue.mjs", "build", "--target", "node"),
        build_name="flue build --target node",
        built="dist/server.mjs",
        entry="dist/server.mjs",
        mounts={"agents": "/agents/assistant"},
    ),
    "2": LineLayout(
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


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"[flue_servers] {message}", file=sys.stderr, flush=True)


def resolve_cache_dir(cache_dir: Path | str | None) -> Path:
    """``cache_dir``, else ``$FLUE_INTEROP_CACHE``, else ``.cache`` in the repository."""
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
    return dict(LAYOUTS[release_line(version)].mounts)


def mount_url(url: str, mounts: Mapping[str, str], which: str) -> str | None:
    """The absolute URL of the mount ``which`` on a server at ``url``; None when the app has no
    such mount or the server has no URL yet."""
    path = mounts.get(which)
    return None if path is None or not url else url + path


def line_layout(version: str) -> LineLayout:
    """How the app of ``version`` (a key of FLUE_VERSIONS) is laid out, built and started."""
    return LAYOUTS[release_line(version)]


def work_dir(cache: Path, version: str) -> Path:
    """Where ``version`` is installed and built inside the cache."""
    return cache / "interop-app" / version
