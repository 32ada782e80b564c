#!/usr/bin/env bash
# Build the model server's image without any image registry or network inside the build:
#   1. a Debian bookworm base image made with debootstrap and `podman import` (cached: skipped
#      when the image exists; Debian 12's python3 is 3.11, as in python:3.11-slim);
#   2. the locked, hash-checked wheels of deploy/requirements.lock downloaded on the host, and
#      the wheel of the production reference (reference/, mlops-reference: the server's code
#      without the book's kit) built from a clean copy of its sources;
#   3. `podman build --network none` of deploy/Dockerfile on that base.
# Usage: deploy/build-image.sh [IMAGE]   (default localhost/incident-predictor:dev)
# Regenerate the lock after a dependency change:
#   .venv/bin/uv pip compile reference/pyproject.toml --extra serve --python-version 3.11 \
#     --python-platform x86_64-manylinux_2_28 --generate-hashes --no-header -o deploy/requirements.lock
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${1:-localhost/incident-predictor:dev}
BASE=${BASE_IMAGE:-localhost/mlops-base:bookworm}
PY=${PY:-.venv/bin/python}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/containers.conf}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
t0=$(date +%s)
lap() { echo "   $1: $(( $(date +%s) - t0 )) s" >&2; t0=$(date +%s); }

if ! podman image exists "$BASE"; then
    echo "building the base image $BASE with debootstrap (once per machine)"
    root=$(mktemp -d /var/tmp/mlops-base.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root/rootfs" "$MIRROR" >"$root/log" 2>&1 \
        || { tail -20 "$root/log"; echo "debootstrap failed" >&2; exit 1; }
    rm -rf "$root"/rootfs/var/cache/apt/archives/*.deb "$root"/rootfs/var/lib/apt/lists/*
    tar -C "$root/rootfs" -c . | podman import --change 'CMD ["python3"]' - "$BASE" >/dev/null
    rm -rf "$root"
    trap - EXIT
    lap "base image (debootstrap + import)"
fi

mkdir -p deploy/build/wheels deploy/build/project
pip_log=$(mktemp)
"$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: --require-hashes --no-deps \
    -r deploy/requirements.lock -d deploy/build/wheels >"$pip_log" 2>&1 || { cat "$pip_log" >&2; exit 1; }
rm -f "$pip_log"
lap "locked wheels"
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
cp -r reference/pyproject.toml reference/README.md reference/mlops_reference "$src/"
find "$src" -name __pycache__ -prune -exec rm -rf {} +
# A fixed timestamp makes the wheel byte-identical when the sources are: the layer cache then holds.
rm -f deploy/build/project/*.whl
SOURCE_DATE_EPOCH=315532800 .venv/bin/uv build --quiet --wheel -o deploy/build/project "$src" 2>/dev/null \
    || SOURCE_DATE_EPOCH=315532800 "$PY" -m pip wheel --quiet --no-deps -w deploy/build/project "$src"
lap "project wheel"

podman build --quiet --format docker --network none --build-arg BASE_IMAGE="$BASE" \
    -f deploy/Dockerfile -t "$IMAGE" deploy/ >/dev/null
lap "podman build"
echo "$IMAGE"
