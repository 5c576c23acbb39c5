#!/usr/bin/env bash
# The DFU guest's kernel: vmlinuz and the modules the guest loads, from the linux-image-amd64
# of ${OTA_DFU_KERNEL_SUITE:-bookworm-backports}; prints the directory that holds them.
#
#   test/dfu/guest_kernel.sh
#
# Built once into ${OTA_DFU_CACHE:-/var/tmp/ota-dfu}/kernel-SUITE through a private apt
# configuration there (the host's sources and package state are never touched). One flock per
# suite lets concurrent builds wait for the first; the entry is built in a temporary directory
# and renamed into place when whole. The .deb comes through scripts/apt-fetch.sh (retries on a
# mirror's transient errors, checked against the index). OTA_DFU_APT_SOURCE replaces the
# sources.list line (the tests point it at a mirror of their own).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${OTA_DFU_CACHE:-/var/tmp/ota-dfu}
# bookworm-backports carries a 6.12 kernel built for Debian 12; its FunctionFS accepts the
# DFU functional descriptor, which the 6.1 kernel of bookworm itself refuses.
suite=${OTA_DFU_KERNEL_SUITE:-bookworm-backports}
source=${OTA_DFU_APT_SOURCE:-"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main"}
apt=$cache/apt-$suite
kdir=$cache/kernel-$suite
label="dfu cache"

[ -f "$kdir/ready" ] && { echo "$kdir"; exit 0; }
mkdir -p "$cache"
exec {lock}>"$kdir.lock"
flock "$lock"
[ -f "$kdir/ready" ] && { echo "$kdir"; exit 0; }
# without the marker, or in a temporary directory: left by a build that died
rm -rf "$kdir" "$kdir".tmp.*
rm -rf "$apt/debs" # where an earlier layout downloaded to

mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
echo "$source" >"$apt/sources.list"
cat >"$apt/apt.conf" <<EOF
Dir::Etc::SourceList "$apt/sources.list";
Dir::Etc::SourceParts "/nonexistent";
Dir::State::Lists "$apt/lists";
Dir::State::status "/dev/null";
Dir::Cache "$apt/cache";
APT::Sandbox::User "root";
EOF
export APT_CONFIG=$apt/apt.conf
# shellcheck source=../../scripts/apt-fetch.sh
. "$root/scripts/apt-fetch.sh"
OTA_APT_REFRESH=0 apt_retry "$label" "refresh the $suite index" \
  apt-get -q update --error-on=any || exit 1
pkg=$(apt-cache depends linux-image-amd64 |
  sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
[ -n "$pkg" ] || { echo "$label: no kernel package behind linux-image-amd64 in $suite" >&2; exit 1; }
deb=$("$root/scripts/apt-fetch.sh" "$label" "$apt/downloads" "$pkg")

tmp=$(mktemp -d "$kdir.tmp.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/x" "$tmp/modules"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards \
  './boot/vmlinuz-*' '*/configfs.ko*' '*/usb-common.ko*' '*/usbcore.ko*' '*/udc-core.ko*' \
  '*/libcomposite.ko*' '*/usb_f_fs.ko*' '*/dummy_hcd.ko*' '*/netfs.ko*' '*/9pnet.ko*' \
  '*/9pnet_virtio.ko*' '*/9p.ko*'
mv "$tmp"/x/boot/vmlinuz-* "$tmp/vmlinuz"
find "$tmp/x" -name '*.ko.xz' -exec sh -c 'xz -dc "$1" >"$2/$(basename "$1" .xz)"' \
  sh {} "$tmp/modules" \;
find "$tmp/x" -name '*.ko' -exec cp {} "$tmp/modules/" \;
rm -rf "$tmp/x"
echo "$pkg" >"$tmp/ready"
mv -T "$tmp" "$kdir"
echo "$kdir"
