"""``python -m tools.flue_servers``: provision, build and run the real Flue server.

Run from the repository root::

    python -m tools.flue_servers --provision-only [--flue-version beta9]  # for CI
    python -m tools.flue_servers --serve [--flue-version v2_1_0]  # in the foreground
    python -m tools.flue_servers --update-lock --flue-version v2_0_3  # refresh a lock file
"""

from __future__ import annotations

import argparse
import sys
import time

from tools.flue_servers.fakemodel import URL_ENV as FAKE_MODEL_URL_ENV
from tools.flue_servers.lifecycle import serve_in_foreground, stop_on_sigterm
from tools.flue_servers.node import format_version, node_version
from tools.flue_servers.provision import describe_installed, provision, update_lock
from tools.flue_servers.releases import (
    DEFAULT_FLUE_VERSION,
    FLUE_VERSIONS,
    VERSION_ENV,
    ProvisionError,
)
from tools.flue_servers.server import RealFlueServer, ServerStartError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.flue_servers",
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
                f"node {format_version(node_version(prov.node))} at {prov.node}\n"
                f"server {prov.server_entry}\n"
                f"ready in {time.monotonic() - started:.1f}s"
            )
            return 0
        stop = stop_on_sigterm()
        with RealFlueServer(
            args.token, cache_dir=args.cache_dir, flue_version=args.flue_version
        ) as server:
            print(f"Flue {server.flue_release} (line {server.line})", flush=True)
            print(f"FLUE_URL={server.url}\nFLUE_TOKEN={server.token}\npid {server.pid}", flush=True)
            for which, path in server.mounts.items():
                print(f"{which} mount: {server.url}{path}/{{id}}", flush=True)
            if server.fake_model is not None:
                print(f"{FAKE_MODEL_URL_ENV}={server.fake_model.base_url}", flush=True)
            return serve_in_foreground(server, stop)
    except (ProvisionError, ServerStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
