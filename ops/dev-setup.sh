#!/usr/bin/env bash
# Installs what preflight's demo and tests need on a fresh Debian 12 machine (idempotent):
# the C toolchain pieces pg_query needs, PostgreSQL 15 (server, client, pg_stat_statements),
# git, debootstrap, patchelf and btrfs-progs, python3-fusepy (a test makes a process
# SIGKILL cannot end with it), Chromium (the HTML report's test opens it headless)
# and xmllint (the JUnit report is checked against its XSD); then builds the box image
# and the tools image with alembic and Django for command mode (cached, see box-image/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

packages=(libclang-dev clang postgresql-15 postgresql-client-15 git debootstrap patchelf btrfs-progs python3-fusepy nftables procps iproute2 ca-certificates chromium fonts-dejavu-core libxml2-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "error: cargo is not installed (https://rustup.rs)" >&2; exit 1; }
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi
docker info >/dev/null 2>&1 || { echo "error: Docker is not reachable; start the Docker daemon" >&2; exit 1; }

"$here/box-image/build.sh"
# PostgreSQL 17 beside the host's 15, so clones can run either major (tests use both);
# ops/pg-major.sh 13 or 18 prepares more.
"$here/pg-major.sh" 17 >/dev/null
# The tools image command mode's tests and the demo's examples run alembic and Django in
# (from Debian's packages; a project would use its own CI image).
"$here/box-image/build.sh" preflight-box-tools:bookworm alembic,python3-psycopg2,python3-django
