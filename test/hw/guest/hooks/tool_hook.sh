#!/bin/sh
# Stands in front of a real bootloader tool (linked as fw_setenv, fw_printenv or
# grub-editenv) in the configuration the power-cut steps give ota: it offers a cut point
# just before and just after the n-th call that writes, then runs the real tool unchanged.
. /usr/lib/hw/lib.sh
tool=$(basename "$0")
writes=0
case "$tool" in
  fw_setenv) writes=1 ;;
  grub-editenv) case " $* " in *" set "* | *" unset "*) writes=1 ;; esac ;;
esac
if [ $writes = 0 ]; then exec "/usr/bin/$tool" "$@"; fi
n=$(hw_count "$tool")
hw_cut "$tool.$n.before"
"/usr/bin/$tool" "$@"
rc=$?
hw_cut "$tool.$n.after"
exit $rc
