#!/usr/bin/env bash
# Prepares PostgreSQL <major> for the built-in engine and prints its bin directory.
#
# A major the host's own packages carry (/usr/lib/postgresql/<major>/bin) is used as it
# is. Any other is laid down from the Debian suite that carries it (13: bullseye,
# 15: bookworm, 17: trixie, 18: sid) with debootstrap, into
# ${PREFLIGHT_PG_MAJORS:-/var/cache/preflight/pg}/<major>/root, without touching the host's
# apt sources; its programs are then patched (patchelf) to load that suite's own loader
# and libraries, so they run on this host as its own PostgreSQL does: same users, same
# confinement, no container. Idempotent: a prepared major is only printed again.
#
#   ops/pg-major.sh 17      # about a minute the first time
set -euo pipefail
major="${1:?usage: ops/pg-major.sh <major> (13, 15, 17 or 18)}"
case "$major" in
  13) suite=bullseye ;;
  15) suite=bookworm ;;
  17) suite=trixie ;;
  18) suite=sid ;;
  *) echo "error: no Debian suite this project may use carries PostgreSQL $major; known: 13, 15, 17, 18" >&2; exit 2 ;;
esac

host_bin="/usr/lib/postgresql/$major/bin"
if [ -x "$host_bin/postgres" ]; then
  echo "$host_bin"
  exit 0
fi

majors="${PREFLIGHT_PG_MAJORS:-/var/cache/preflight/pg}"
dir="$majors/$major"
bin="$dir/root/usr/lib/postgresql/$major/bin"
mkdir -p "$majors"
exec 9>"$majors/.$major.lock"
flock 9
if [ -f "$dir/ready" ]; then
  echo "$bin"
  exit 0
fi

for tool in debootstrap patchelf; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing: apt-get install $tool" >&2; exit 1; }
done
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
rm -rf "$dir"
mkdir -p "$dir"
echo "debootstrapping $suite with postgresql-$major into $dir (about a minute) ..." >&2
debootstrap --variant=minbase --include="postgresql-$major" "$suite" "$dir/root" "$mirror" \
  >"$dir/debootstrap.log" 2>&1 \
  || { echo "error: debootstrap failed; see $dir/debootstrap.log" >&2; exit 1; }

# The suite's programs load the suite's loader and libraries (RPATH applies to what they
# load in turn, extensions included), never the host's, whose C library may be older.
arch_lib="$dir/root/usr/lib/$(uname -m)-linux-gnu"
loader="$arch_lib/ld-linux-x86-64.so.2"
[ -e "$loader" ] || loader=$(ls "$arch_lib"/ld-linux-*.so.* | head -1)
rpath="$arch_lib:$dir/root/usr/lib/postgresql/$major/lib"
for f in "$bin"/*; do
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  head -c 4 "$f" | grep -q "ELF" || continue
  patchelf --set-interpreter "$loader" --force-rpath --set-rpath "$rpath" "$f"
done
"$bin/postgres" --version >&2
date -u +%FT%TZ >"$dir/ready"
echo "$bin"
