#!/bin/sh
# PID 1 of the board's root filesystem (a slot). It mounts the persistent partitions,
# reports what booted, then runs the step script the test harness put on the step disk
# (/dev/vdb, raw text padded with zeros) and powers off when the step returns.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/lock
mount -t ext4 /dev/vda4 /data || echo "@@HW data-mount-failed"
. /etc/hw/board.conf
if [ -n "$HW_BOOT_PART_MOUNT" ]; then
  mount -t vfat /dev/vda1 "$HW_BOOT_PART_MOUNT" || echo "@@HW boot-mount-failed"
fi
. /usr/lib/hw/lib.sh
hw_report_boot
# busybox's reboot and poweroff (without -f) signal PID 1: as systemd does, the services
# stop first (lib.sh hw_services_stop), then the board goes down. `wait` returns when a
# signal comes, and the trap never returns.
trap 'hw_services_stop; hw_reboot' TERM
trap 'hw_services_stop; hw_poweroff' USR2
if [ -b /dev/vdb ]; then
  tr -d '\000' < /dev/vdb > /tmp/step.sh
  sh /tmp/step.sh &
  wait $!
  echo "@@HW step-exit rc=$?"
else
  echo "@@HW no-step-disk"
fi
hw_poweroff
