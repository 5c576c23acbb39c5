#!/bin/sh
# The initramfs: load the few drivers the board needs, mount the root partition the
# bootloader named on the command line (root=), and hand over to its /sbin/init. The root
# is the slot itself (not the initramfs), so `/` is the partition ota must recognise.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r module; do
  insmod "/lib/modules/$module" 2>/dev/null || echo "@@HW initramfs insmod-failed $module"
done < /lib/modules/load.order
root=$(sed -n 's/.*root=\([^ ]*\).*/\1/p' /proc/cmdline)
tries=0
while [ ! -b "$root" ] && [ $tries -lt 100 ]; do
  sleep 0.1
  tries=$((tries + 1))
done
mkdir -p /newroot
if mount -t ext4 -o ro "$root" /newroot && [ -x /newroot/sbin/init ]; then
  mount --move /dev /newroot/dev
  umount /proc /sys
  exec switch_root /newroot /sbin/init
fi
# Exiting PID 1 panics the kernel; with panic=N on the command line the board resets.
echo "@@HW initramfs no-root root=$root"
exit 1
