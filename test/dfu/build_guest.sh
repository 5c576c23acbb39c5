#!/usr/bin/env bash
# Builds what the DFU test guest boots: a Debian kernel (with dummy_hcd, libcomposite and
# usb_f_fs as modules) and an initramfs holding busybox, dfu-util, the Mender client, the
# ota binary and the virtual board. See test/dfu/README.md for the choices made here.
#
#   test/dfu/build_guest.sh OUT_DIR
#
# Writes OUT_DIR/vmlinuz and OUT_DIR/initramfs.cpio. The kernel comes from guest_kernel.sh
# (fetched once with `apt-get download` through a private apt configuration and kept in
# ${OTA_DFU_CACHE:-/var/tmp/ota-dfu}; the host's sources and installed packages are never
# touched).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:?usage: build_guest.sh OUT_DIR}
mkdir -p "$out"

# Copies an executable and the shared libraries it loads into the initramfs tree.
copy_with_libs() {
  local bin=$1 dest=$2
  mkdir -p "$rootfs$(dirname "$dest")"
  cp -L "$bin" "$rootfs$dest"
  ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    [ -e "$rootfs$lib" ] || { mkdir -p "$rootfs$(dirname "$lib")" && cp -L "$lib" "$rootfs$lib"; }
  done
}

kdir=$("$here/guest_kernel.sh")
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
