#!/usr/bin/env bash
# Prepares a btrfs pool for `preflight engine serve`: a filesystem on a spare disk, or
# on a loop file where there is no spare disk, mounted where the engine's `pool_dir`
# points. Clones on btrfs are writable snapshots: constant time at any size.
#
#   ops/btrfs-pool.sh /dev/sdb /var/lib/preflight-engine        # a whole spare disk (erased!)
#   ops/btrfs-pool.sh --loop-file /srv/pool.img 200G /var/lib/preflight-engine
#
# Prints the /etc/fstab line that mounts it again at boot. Needs root and btrfs-progs.
set -euo pipefail

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

[ "$(id -u)" -eq 0 ] || { echo "error: run as root" >&2; exit 1; }
command -v mkfs.btrfs >/dev/null || { echo "error: mkfs.btrfs is missing: apt-get install btrfs-progs" >&2; exit 1; }
grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null || true
grep -qw btrfs /proc/filesystems || { echo "error: this kernel has no btrfs" >&2; exit 1; }

if [ "${1:-}" = "--loop-file" ]; then
    [ $# -eq 4 ] || usage
    file=$2 size=$3 mountpoint=$4
    [ -e "$file" ] && { echo "error: $file exists; remove it or choose another path" >&2; exit 1; }
    truncate -s "$size" "$file"
    mkfs.btrfs -q "$file"
    source=$file
    options=loop,noatime
else
    [ $# -eq 2 ] || usage
    device=$1 mountpoint=$2
    [ -b "$device" ] || { echo "error: $device is not a block device" >&2; exit 1; }
    if blkid "$device" >/dev/null 2>&1; then
        echo "error: $device already holds a filesystem ($(blkid -o value -s TYPE "$device")); wipe it first (wipefs -a $device) if it is really spare" >&2
        exit 1
    fi
    mkfs.btrfs -q "$device"
    source=UUID=$(blkid -o value -s UUID "$device")
    options=noatime
fi

mkdir -p "$mountpoint"
mount -o "$options" "$source" "$mountpoint"
chmod 755 "$mountpoint"
echo "btrfs pool mounted on $mountpoint ($(df -h --output=size "$mountpoint" | tail -1 | tr -d ' '))"
echo "add to /etc/fstab to mount it at boot:"
echo "  $source $mountpoint btrfs $options 0 0"
echo "then set pool_dir: $mountpoint in the engine's configuration (backend: auto picks btrfs)."
