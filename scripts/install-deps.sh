#!/usr/bin/env bash
# Installs the Debian packages that the tests, the demo and the benchmarks run for real:
# the real Mender tools, the bootloader-environment tools, QEMU, podman, nginx, and the
# compilers the build needs.
# Idempotent; refreshes the package index only when it is older than a day. A mirror's
# transient error (or a busy dpkg lock on a machine just booted) is retried (apt-fetch.sh).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PACKAGES=(
  # Mender's own tools: the reference the tests compare against
  mender-artifact mender-client
  # bootloader environments: fw_printenv/fw_setenv, mkenvimage, grub-editenv
  libubootenv-tool u-boot-tools grub-common
  # liblmdb, the format of Mender's store: python3-lmdb and mdb_load/mdb_stat build and check
  # the databases ota's own reader and writer are tested against
  python3-lmdb lmdb-utils
  # filesystems, archives, keys
  e2fsprogs xz-utils zstd openssl dpkg
  # mender-artifact modify/cp on disk images asks parted for the partition table
  parted python3
  # the arm64 and armv7 binaries under emulation; the armv7 build runs its node under
  # qemu-arm to make the executable's blob, and strips it with the ARM binutils
  qemu-user-static libc6-arm64-cross libc6-armhf-cross libstdc++6-armhf-cross
  libatomic1-armhf-cross binutils-arm-linux-gnueabihf
  # zstd compiled to WebAssembly for the Node builds (scripts/zstd_wasm.ts): clang and wasm-ld
  clang lld
  # networking for peer tests, time/memory measurement
  iproute2 time curl
  # bench/serve.ts: nginx is the reference server, wrk loads both (tc for the LAN is iproute2)
  nginx wrk
  # test/peers: dig asks an ota server's mDNS responder directly, as any DNS tool would
  bind9-dnsutils
  # DFU tests: a QEMU guest (kernel fetched by test/dfu/guest_kernel.sh with apt-get download)
  # with busybox, the real dfu-util, and the virtual board compiled statically
  qemu-system-x86 busybox-static cpio dfu-util gcc libc6-dev
  # the docker Update Module under test: podman (with runc) and images made of busybox-static
  podman runc busybox-static
  # emulated boards (test/hw): U-Boot for QEMU, GRUB for BIOS, partitioning, FAT images;
  # the guest kernel and busybox come with apt-get download, never installed on the host
  u-boot-qemu grub-pc-bin fdisk dosfstools mtools
  # mender-auth's D-Bus API (test/managed/dbus_test.ts): a private bus, busctl and gdbus call
  # and watch it; Debian's mender-connect comes with apt-get download, never installed
  dbus-daemon systemd libglib2.0-bin
)
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then exec sudo "$0" "$@"; fi
  echo "install-deps: run as root" >&2
  exit 1
fi
# shellcheck source=apt-fetch.sh
. "$(dirname "$0")/apt-fetch.sh"
export APT_RETRY_SHOW=1
stamp=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -1440 2>/dev/null | head -n1)
[ -n "$stamp" ] || OTA_APT_REFRESH=0 apt_retry install-deps "refresh the package index" \
  apt-get update -q || exit 1
apt_retry install-deps "install the packages" \
  apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" || exit 1
