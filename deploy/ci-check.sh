#!/usr/bin/env bash
# The production checks: install what they need (idempotently), then lint the Dockerfile,
# validate the manifests, test the Prometheus rules and build and run the container,
# printing how long each check took. Safe on a fresh Debian 12 machine (run as root, or with
# the packages already installed); re-runs skip what is already there.
#   bash deploy/ci-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="$PWD/deploy/containers.conf"
KUBERNETES_VERSION=1.33.0
PY=.venv/bin/python
total_start=$(date +%s)

step() {  # step NAME COMMAND...: run, time, and stop on failure
    local name=$1; shift
    local start; start=$(date +%s)
    echo "== $name"
    if "$@"; then
        echo "== $name: ok in $(( $(date +%s) - start )) s"
    else
        local rc=$?
        echo "== $name: FAILED (exit $rc) after $(( $(date +%s) - start )) s" >&2
        exit "$rc"
    fi
}

install_system() {
    # podman + runc run the container; iptables lets netavark publish its port on 127.0.0.1;
    # debootstrap builds the base image; prometheus brings promtool (and the chapter's server).
    local missing=()
    for pair in podman:podman runc:runc debootstrap:debootstrap prometheus:prometheus promtool:prometheus \
                iptables:iptables node:nodejs npm:npm; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair##*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing with apt-get: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
            $(printf '%s\n' "${missing[@]}" | sort -u) netavark aardvark-dns uidmap >/dev/null
    fi
    podman --version && promtool --version 2>&1 | head -1
}

install_tools() {
    # The venv with the `dev` extra (which holds `deploy`'s validators), made or updated by make
    # only when pyproject.toml changed: nothing is reinstalled under a test run beside this one.
    make --no-print-directory .venv/.installed
    if [ ! -d deploy/validate/node_modules/@kubernetes-models/argo-rollouts ]; then
        npm ci --prefix deploy/validate --no-audit --no-fund --ignore-scripts --loglevel=error
    fi
    .venv/bin/hadolint --version
}

check_generated() {
    local out rc=0; out=$(mktemp -d)
    "$PY" -m mlops_reference.deploy generate "$out" --rule deploy/canary-rule.json >/dev/null
    for path in k8s/app.yaml k8s/rollout.yaml k8s/traffic.yaml prometheus/rules.yml grafana/dashboard.json; do
        diff -u "deploy/$path" "$out/$path" || rc=1
    done
    rm -rf "$out"
    if [ "$rc" -ne 0 ]; then
        echo "deploy/ differs from the generators: run python -m mlops_reference.deploy generate deploy/" >&2
        return 1
    fi
    echo "deploy/k8s, deploy/prometheus/rules.yml and deploy/grafana match the generators"
}

check_manifests() {
    .venv/bin/kubernetes-validate --strict -k "$KUBERNETES_VERSION" deploy/k8s/app.yaml deploy/k8s/traffic.yaml
    "$PY" deploy/validate_manifests.py --kubernetes-version "$KUBERNETES_VERSION" deploy/k8s/*.yaml
}

check_prometheus() {
    promtool check rules deploy/prometheus/rules.yml
    (cd deploy/prometheus && promtool test rules tests.yml)
}

production_tests() {
    # All of tests/test_production.py: the container (serving, hostile input, bad artefacts),
    # the manifests through both validators and the rules through promtool. Everything they
    # need was installed above, so a skipped test here is a failure. (.ci/run runs them in
    # this step only, not again in `make test`.)
    local out rc=0; out=$(mktemp)
    MLOPS_TEST_IMAGE=localhost/incident-predictor:test \
        "$PY" -m pytest tests/test_production.py -q -p no:cacheprovider -rs 2>&1 | tee "$out" || rc=$?
    if [ "$rc" -eq 0 ] && grep -Eq '^SKIPPED|[0-9]+ skipped' "$out"; then
        echo "production tests were skipped although their tools are installed" >&2
        rc=1
    fi
    rm -f "$out"
    return "$rc"
}

step "install: apt packages" install_system
step "install: Python and npm validators" install_tools
step "Dockerfile lint (hadolint)" .venv/bin/hadolint deploy/Dockerfile
step "generated files are up to date" check_generated
step "manifests (kubernetes-validate --strict, Argo Rollouts schemas)" check_manifests
step "Prometheus rules (promtool check + test)" check_prometheus
step "container image: offline build on a cached debootstrap base" bash deploy/build-image.sh localhost/incident-predictor:test
step "production tests: container (serve, refuse hostile input and bad artefacts), manifests, rules" production_tests
echo "production checks finished in $(( $(date +%s) - total_start )) s"
