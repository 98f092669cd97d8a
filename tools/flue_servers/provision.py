"""Provision the interop app for one Flue release: ``npm ci`` and the build, each cached.

How this works, importable without pytest (:func:`provision`):

1. finds a Node >= 22.19 (:func:`~tools.flue_servers.node.ensure_node`);
2. copies the release's ``package.json``/lock into its work directory and runs ``npm ci``
   there, skipped while ``node_modules`` matches the lock file, then checks that the installed
   ``@flue/*`` packages are the pinned ones (and that no other ``@flue/runtime`` is nested);
3. copies the line's sources into the work directory and builds them, skipped while the
   sources and lock file are unchanged.

Provisioning is serialised within the process and, on POSIX, between processes (parallel test
runs share ``node_modules``). :mod:`tools.flue_servers.server` runs the result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.flue_servers.node import ensure_node, format_version, node_env, node_version, run_checked
from tools.flue_servers.releases import (
    APP_DIR,
    FLUE_VERSIONS,
    RELEASES,
    VERSIONS_DIR,
    ProvisionError,
    line_layout,
    log,
    release_line,
    resolve_cache_dir,
    resolve_flue_version,
    work_dir,
)

__all__ = [
    "Provisioned",
    "build_app",
    "describe_installed",
    "install_app",
    "installed_flue_version",
    "provision",
    "update_lock",
]

_INSTALL_STAMP = ".flue-interop-install"
_BUILD_STAMP = ".flue-interop-build"
#: Files copied from ``versions/<name>/`` into the work directory.
_MANIFESTS = ("package.json", "package-lock.json")


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
            "node": format_version(node_version(node)),
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
            f"`python -m tools.flue_servers --update-lock --flue-version {version}`)."
        )


def install_app(
    node: Path, version: str | None = None, cache_dir: Path | str | None = None
) -> bool:
    """``npm ci`` the release's work directory unless ``node_modules`` matches its lock file.

    Returns True when it ran npm.
    """
    version = resolve_flue_version(version)
    work = work_dir(resolve_cache_dir(cache_dir), version)
    stamp = work / "node_modules" / _INSTALL_STAMP
    key = _install_key(node, version)
    if stamp.exists() and stamp.read_text() == key and not _wrong_packages(work, version):
        return False
    work.mkdir(parents=True, exist_ok=True)
    for name in _MANIFESTS:
        _copy_if_changed(_manifest_dir(version) / name, work / name)
    _copy_if_changed(APP_DIR / ".npmrc", work / ".npmrc")
    log(f"npm ci for Flue {FLUE_VERSIONS[version]} in {work}")
    # --ignore-scripts: nothing the build or server needs has an install script, and skipping
    # them keeps the install independent of compilers and of npm's script-approval policy.
    run_checked(
        [_npm(node), "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=work,
        what=f"npm ci (interop app, Flue {FLUE_VERSIONS[version]})",
        env=node_env(node),
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
    layout = line_layout(version)
    digest = hashlib.sha256()
    for name in layout.sources:
        for chunk in _tree_chunks(layout.source_dir / name, name):
            digest.update(chunk)
    for name in (*_MANIFESTS, *layout.sources):
        for chunk in _tree_chunks(_manifest_dir(version) / name, f"{version}/{name}"):
            digest.update(chunk)
    digest.update(f"{FLUE_VERSIONS[version]} node {format_version(node_version(node))}".encode())
    return digest.hexdigest()


def _sync_sources(work: Path, version: str) -> None:
    """Replace the work directory's copy of the app sources with the current ones: the line's
    shared sources with the release's own ``versions/<name>/src/`` (if any) copied over them."""
    layout = line_layout(version)
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
    layout = line_layout(version)
    work = work_dir(resolve_cache_dir(cache_dir), version)
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
    log(what)
    run_checked([str(node), str(tool), *args], cwd=work, what=what, env=node_env(node))
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
        run_checked(
            [_npm(node), "install", "--package-lock-only", "--ignore-scripts", "--no-audit"],
            cwd=Path(tmp),
            what=f"npm install --package-lock-only (Flue {FLUE_VERSIONS[version]})",
            env=node_env(node),
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
    cache = resolve_cache_dir(cache_dir)
    with _provision_lock, _interprocess_lock(cache):
        started = time.monotonic()
        node = ensure_node(cache)
        step = time.monotonic()
        if install_app(node, version, cache):
            log(f"npm ci took {time.monotonic() - step:.1f}s")
        step = time.monotonic()
        if build_app(node, version, cache):
            log(f"{line_layout(version).build_name} took {time.monotonic() - step:.1f}s")
        work = work_dir(cache, version)
        _check_installed(work, version)
        log(
            f"Flue {FLUE_VERSIONS[version]} provisioned in {time.monotonic() - started:.1f}s "
            f"(node {node})"
        )
        return Provisioned(
            node=node,
            server_entry=work / line_layout(version).entry,
            preload=APP_DIR / "bind-loopback.mjs",
            app_dir=work,
            flue_version=version,
            flue_release=FLUE_VERSIONS[version],
            line=release_line(version),
        )
