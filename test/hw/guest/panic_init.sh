#!/bin/sh
# The initramfs of a deliberately broken release: its kernel panics during boot, the way a
# bad driver or a wrong root= does, before any userspace could commit or roll back.
echo "@@HW panic-release"
/bin/mount -t proc proc /proc
echo c > /proc/sysrq-trigger
exit 1
