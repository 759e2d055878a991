#!/usr/bin/env bash
# Builds the box image preflight runs migrations in, without any container registry:
# a minimal Debian bookworm root made by debootstrap from Debian's packages, with the
# PostgreSQL 15 client, loaded with `docker import`. The image is labelled with a hash
# of this script, so it is rebuilt only when the recipe changes; the root filesystem
# tarball is cached under $PREFLIGHT_CACHE (default /var/cache/preflight).
#
# Usage: ops/box-image/build.sh [image-tag] [extra-packages]
#   default tag preflight-box:bookworm; extra packages comma-separated, e.g. the tools
#   image for command mode: ops/box-image/build.sh preflight-box-tools:bookworm \
#     alembic,python3-psycopg2,sqitch,libdbd-pg-perl
set -euo pipefail

tag="${1:-preflight-box:bookworm}"
extra="${2:-}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache="${PREFLIGHT_CACHE:-/var/cache/preflight}"
packages="postgresql-client-15,ca-certificates${extra:+,$extra}"
recipe_hash=$( (cat "$0"; echo "$packages") | sha256sum | cut -c1-16)

existing=$(docker image inspect --format '{{ index .Config.Labels "preflight.recipe" }}' "$tag" 2>/dev/null || true)
if [ "$existing" = "$recipe_hash" ]; then
  echo "box image $tag is current (recipe $recipe_hash)"
  exit 0
fi

for tool in debootstrap docker; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done

mkdir -p "$cache"
tarball="$cache/box-rootfs-$recipe_hash.tar"
if [ ! -s "$tarball" ]; then
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "debootstrapping bookworm into $root (about a minute) ..."
  debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { echo "error: debootstrap failed; see $cache/debootstrap.log" >&2; tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  # Unprivileged user the migrations run as; no password, no shell login.
  chroot "$root" useradd --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin migrator
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
         "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale
  tar -C "$root" -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
fi

docker import \
  --change "LABEL preflight.recipe=$recipe_hash" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["sleep", "infinity"]' \
  "$tarball" "$tag" >/dev/null
echo "built box image $tag (recipe $recipe_hash)"
