#!/usr/bin/env bash
# Create the project's virtualenv and install the project with its pinned
# dependencies. Idempotent: an existing virtualenv of the right Python is reused.
# Usage: ci/venv.sh PYTHON VENV_DIR
set -euo pipefail

python=${1:?usage: ci/venv.sh PYTHON VENV_DIR}
venv=${2:?usage: ci/venv.sh PYTHON VENV_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v "$python" >/dev/null 2>&1; then
    echo "ci/venv.sh: no '$python' on PATH; install Python 3.11 or run make with PYTHON=/path/to/python3.11" >&2
    exit 1
fi
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "${version%%.*}" != 3 ] || [ "${version#*.}" -lt 11 ]; then
    echo "ci/venv.sh: $python is Python $version; this project needs 3.11 or newer (make PYTHON=/path/to/python3)" >&2
    exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "ci/venv.sh: creating virtualenv $venv with $python"
    "$python" -m venv "$venv"
fi
echo "ci/venv.sh: installing the project and its pinned dependencies (constraints.txt)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c "$root/constraints.txt" -e "${root}[dev]"
