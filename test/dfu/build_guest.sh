#!/usr/bin/env bash
# Builds what the DFU test guest boots: a Debian kernel (with dummy_hcd, libcomposite and
# usb_f_fs as modules) and an initramfs holding busybox, dfu-util, the Mender client, the
# ota binary and the virtual board. See test/dfu/README.md for the choices made here.
#
#   test/dfu/build_guest.sh OUT_DIR
#
# Writes OUT_DIR/vmlinuz and OUT_DIR/initramfs.cpio. The kernel .deb is fetched once with
# `apt-get download` through a private apt configuration (the host's sources and installed
# packages are never touched) and kept in ${OTA_DFU_CACHE:-/var/tmp/ota-dfu}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:?usage: build_guest.sh OUT_DIR}
cache=${OTA_DFU_CACHE:-/var/tmp/ota-dfu}
# bookworm-backports carries a 6.12 kernel built for Debian 12; its FunctionFS accepts the
# DFU functional descriptor, which the 6.1 kernel of bookworm itself refuses.
suite=${OTA_DFU_KERNEL_SUITE:-bookworm-backports}
mkdir -p "$out" "$cache"

fetch_kernel() {
  local apt=$cache/apt-$suite kdir=$cache/kernel-$suite
  if [ -f "$kdir/vmlinuz" ] && [ -f "$kdir/ready" ]; then echo "$kdir"; return; fi
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
    "http://deb.debian.org/debian $suite main" >"$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Sandbox::User=root")
  apt-get "${opts[@]}" -q update >&2
  local pkg
  pkg=$(apt-cache "${opts[@]}" depends linux-image-amd64 |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
  [ -n "$pkg" ] || { echo "build_guest: no kernel package found in $suite" >&2; exit 1; }
  rm -f "$apt/debs/"*.deb
  (cd "$apt/debs" && apt-get "${opts[@]}" -q download "$pkg" >&2)
  rm -rf "$kdir" && mkdir -p "$kdir/x"
  dpkg-deb --fsys-tarfile "$apt/debs/"*.deb | tar -x -C "$kdir/x" --wildcards \
    './boot/vmlinuz-*' '*/configfs.ko*' '*/usb-common.ko*' '*/usbcore.ko*' '*/udc-core.ko*' \
    '*/libcomposite.ko*' '*/usb_f_fs.ko*' '*/dummy_hcd.ko*' '*/netfs.ko*' '*/9pnet.ko*' \
    '*/9pnet_virtio.ko*' '*/9p.ko*'
  mv "$kdir"/x/boot/vmlinuz-* "$kdir/vmlinuz"
  mkdir -p "$kdir/modules"
  find "$kdir/x" -name '*.ko.xz' -exec sh -c 'xz -dc "$1" >"$2/$(basename "$1" .xz)"' \
    sh {} "$kdir/modules" \;
  find "$kdir/x" -name '*.ko' -exec cp {} "$kdir/modules/" \;
  rm -rf "$kdir/x"
  echo "$pkg" >"$kdir/ready"
  echo "$kdir"
}

# Copies an executable and the shared libraries it loads into the initramfs tree.
copy_with_libs() {
  local bin=$1 dest=$2
  mkdir -p "$rootfs$(dirname "$dest")"
  cp -L "$bin" "$rootfs$dest"
  ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    [ -e "$rootfs$lib" ] || { mkdir -p "$rootfs$(dirname "$lib")" && cp -L "$lib" "$rootfs$lib"; }
  done
}

kdir=$(fetch_kernel)
cp "$kdir/vmlinuz" "$out/vmlinuz"

rootfs=$out/root
rm -rf "$rootfs"
mkdir -p "$rootfs"/{bin,sbin,etc,proc,sys,dev,tmp,run,share,lib/modules,usr/bin,var/lib}
ln -s lib "$rootfs/lib64" 2>/dev/null || true
cp /bin/busybox "$rootfs/bin/busybox"
cp "$kdir"/modules/*.ko "$rootfs/lib/modules/"
copy_with_libs "$(command -v dfu-util)" /usr/bin/dfu-util
copy_with_libs "$(command -v dfu-suffix)" /usr/bin/dfu-suffix
copy_with_libs /usr/bin/mender /usr/bin/mender
copy_with_libs "$root/dist/ota" /usr/bin/ota
gcc -O2 -Wall -static -o "$rootfs/usr/bin/dfu_board" "$here"/board/*.c
cp "$here/guest_init.sh" "$rootfs/init"
chmod 755 "$rootfs/init"
# The Mender client reads these fixed paths; the tests bind their own directories over them.
mkdir -p "$rootfs/etc/mender" "$rootfs/usr/share/mender/modules/v3" "$rootfs/var/lib/mender"
(cd "$rootfs" && find . | cpio -o -H newc --quiet) >"$out/initramfs.cpio"
rm -rf "$rootfs"
echo "guest: $(cat "$kdir/ready"), initramfs $(du -m "$out/initramfs.cpio" | cut -f1) MiB" >&2
