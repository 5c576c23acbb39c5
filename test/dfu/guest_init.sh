#!/bin/busybox sh
# PID 1 of the DFU test guest: mounts the basics, loads the USB gadget stack, mounts the
# host's share (virtio-9p) and then runs the commands the host drops into /share/cmd:
# N.sh runs with its output in N.out / N.err and its exit code in N.rc (written last).
# Commands run concurrently, so a test can drive two boards at once.
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
for m in configfs usb-common usbcore udc-core libcomposite usb_f_fs netfs 9pnet 9pnet_virtio 9p; do
  insmod "/lib/modules/$m.ko" 2>/dev/null || echo "guest: insmod $m failed" >&2
done
# Two UDC/host pairs: one board per bus, so a test can attach two boards at once.
insmod /lib/modules/dummy_hcd.ko num=2 || echo "guest: insmod dummy_hcd failed" >&2
mount -t configfs configfs /sys/kernel/config
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=none share /share || {
  echo "guest: cannot mount the share" >&2
  poweroff -f
}
mkdir -p /share/cmd
cd /share/cmd || poweroff -f
# The host writes a newline to the second serial port after each command it drops, so the
# loop sleeps in read() instead of polling (polling costs a third of a CPU under TCG).
if exec 3<>/dev/ttyS1 && stty -F /dev/ttyS1 raw -echo; then wake=1; fi
echo "$(uname -r)" >/share/ready
while :; do
  for f in *.sh; do
    [ -e "$f" ] || continue
    n=${f%.sh}
    mv "$f" "$n.run"
    (
      cd / && sh "/share/cmd/$n.run" >"/share/cmd/$n.out" 2>"/share/cmd/$n.err" </dev/null
      echo $? >"/share/cmd/$n.rc.tmp"
      mv "/share/cmd/$n.rc.tmp" "/share/cmd/$n.rc"
    ) &
  done
  [ -e /share/cmd/poweroff ] && break
  if [ -n "$wake" ]; then read -r -t 1 _ <&3; else sleep 0.05; fi
done
sync
poweroff -f
