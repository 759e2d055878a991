#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (unit and integration, against
# real PostgreSQL and a real Docker engine). Run ops/dev-setup.sh first on a new machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo nextest run --locked --no-fail-fast
