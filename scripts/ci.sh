#!/usr/bin/env bash
# The test command (README, "The two commands"), run by CI as `.ci/run` and by you on a fresh
# machine: installs what the test sessions need, then runs them.
#
#   scripts/ci.sh                      install, then nox -s lint tests lowest wheel interop interop_nginx
#   scripts/ci.sh -s tests-3.11 -- -x  install, then these nox arguments instead
#   scripts/ci.sh --install-only       install and stop
#
# What it installs, only when missing:
# - Python 3.10, 3.11, 3.12 and 3.13 by their versioned names on PATH (nox finds them so):
#   pyenv's builds when pyenv is there (`pyenv install` for a missing one), otherwise prebuilt
#   ones from `uv python install` (uv itself from PyPI); linked into a temporary directory put
#   first on PATH, before pyenv's shims (which refuse versions not selected); only versioned
#   names, so `python3` stays the default;
# - tinyproxy (forward-proxy tests), nginx-light (`nox -s interop_nginx`) and npm (the real Flue
#   servers of `nox -s interop`; Node >= 22 itself is provisioned by tools/flue_servers)
#   with apt-get, as root or through `sudo -n`;
# - nox, with pip.
# Exits non-zero when anything is missing and cannot be installed, or when a session fails.
set -euo pipefail
cd "$(dirname "$0")/.."

MINORS=(3.10 3.11 3.12 3.13)
SESSIONS=(lint tests lowest wheel interop interop_nginx)
install_only=0
if [ "${1:-}" = "--install-only" ]; then
    install_only=1
    shift
fi

say() { echo "scripts/ci.sh: $*" >&2; }

# -- Pythons -----------------------------------------------------------------------------------
links="$(mktemp -d)"
if command -v pyenv >/dev/null 2>&1; then
    root="$(pyenv root)"
    for minor in "${MINORS[@]}"; do
        best="$(ls -d "$root"/versions/"$minor".* 2>/dev/null | sort -V | tail -n 1 || true)"
        if [ -z "$best" ] && ! command -v "python$minor" >/dev/null 2>&1; then
            say "installing Python $minor with pyenv"
            pyenv install --skip-existing "$minor"
            best="$(ls -d "$root"/versions/"$minor".* 2>/dev/null | sort -V | tail -n 1 || true)"
        fi
        if [ -n "$best" ] && [ -x "$best/bin/python$minor" ]; then
            ln -sf "$best/bin/python$minor" "$links/python$minor"
        fi
    done
else
    need=()
    for minor in "${MINORS[@]}"; do
        command -v "python$minor" >/dev/null 2>&1 || need+=("$minor")
    done
    if [ "${#need[@]}" -gt 0 ]; then
        command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet "uv>=0.4"
        uv="$(command -v uv || echo "python3 -m uv")"
        say "installing Python ${need[*]} with uv"
        $uv python install "${need[@]}"
        for minor in "${need[@]}"; do
            ln -sf "$($uv python find "$minor")" "$links/python$minor"
        done
    fi
fi
export PATH="$links:$PATH"
for minor in "${MINORS[@]}"; do
    "python$minor" -c "" || { say "python$minor does not run"; exit 1; }
done

# -- system packages -----------------------------------------------------------------------------
missing=()
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || missing+=(tinyproxy)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        say "${missing[*]} missing and this is not root: run 'apt-get install -y ${missing[*]}' as root"
        exit 1
    fi
    "${as_root[@]}" apt-get update
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

# -- nox -----------------------------------------------------------------------------------------
python3 -m pip install --quiet "nox>=2024.4"  # nothing to do when a recent one is there

if [ "$install_only" -eq 1 ]; then
    say "ready: Python ${MINORS[*]}, tinyproxy, nginx, npm and nox"
    exit 0
fi
if [ "$#" -eq 0 ]; then
    set -- -s "${SESSIONS[@]}"
fi
exec python3 -m nox "$@"
