#!/usr/bin/env bash
# Weft's main job on one machine: weftd with the embedded store on the
# example two-racks fabric and its intent, with an in-memory agent per leaf
# (`--simulate`), listening on 127.0.0.1:50051 (gRPC, mTLS) and
# 127.0.0.1:9464 (metrics). State goes to ./weft-data. Extra arguments go
# to weftd (e.g. `--listen 0.0.0.0:50051`).
#
# Building needs protoc (etcd-client's build script): installed here when
# missing, as the test command does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v protoc >/dev/null 2>&1 || ./scripts/ensure-packages.sh protobuf-compiler
exec cargo run --release --bin weftd -- \
    --topology topologies/two-racks.yaml \
    --intent topologies/two-racks.intent.yaml \
    --simulate "$@"
