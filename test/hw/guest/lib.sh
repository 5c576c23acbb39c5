# Helpers for the board's init and the step scripts the test harness sends. Every line the
# host reads starts with "@@HW " and goes straight to the console (also from processes whose
# stdout is a pipe, such as ota's hooks), one line each; command output travels base64.

hw_say() {
  echo "@@HW $*" > /dev/console
}

hw_b64() {
  base64 -w 0 < "$1" 2>/dev/null
}

hw_root_part() {
  sed -n 's/.*root=\/dev\/vda\([0-9]*\).*/\1/p' /proc/cmdline
}

# Which partition is mounted as /, by device number (what ota checks too).
hw_mounted_part() {
  local root_dev
  root_dev=$(stat -c %d /)
  for part in 2 3; do
    if [ "$(stat -c '%t:%T' /dev/vda$part)" = "$(printf '%x:%x' $((root_dev >> 8)) $((root_dev & 255)))" ]; then
      echo "$part"
      return
    fi
  done
  echo "?"
}

hw_report_boot() {
  local name
  name=$(sed -n 's/^artifact_name=//p' /etc/mender/artifact_info 2>/dev/null)
  hw_say "boot part=$(hw_mounted_part) cmdline_part=$(hw_root_part) release=$name board=$HW_BOARD"
}

# The bootloader variables of Mender's integration (U-Boot), or every variable of both
# GRUB environment copies and their lock files.
HW_ENV_VARS="mender_boot_part mender_boot_part_hex upgrade_available bootcount bootlimit mender_saveenv_canary mender_check_saveenv_canary"
hw_env() {
  local out=/tmp/hw_env.txt
  : > "$out"
  if [ "$HW_BOOTLOADER" = uboot ]; then
    fw_printenv $HW_ENV_VARS > "$out" 2>&1
  else
    for n in 1 2; do
      grub-editenv "$HW_GRUBENV_DIR/mender_grubenv$n/env" list | sed "s/^/env$n./" >> "$out" 2>&1
      grub-editenv "$HW_GRUBENV_DIR/mender_grubenv$n/lock" list | sed "s/^/lock$n./" >> "$out" 2>&1
    done
  fi
  hw_say "env $(hw_b64 "$out")"
}

# Sets bootloader variables the way the update client does (one atomic fw_setenv, or
# grub-mender-grubenv's lock/write/unlock per copy). Arguments: name=value ...
hw_setenv() {
  if [ "$HW_BOOTLOADER" = uboot ]; then
    for pair in "$@"; do echo "$pair"; done | fw_setenv -s -
  else
    for n in 1 2; do
      grub-editenv "$HW_GRUBENV_DIR/mender_grubenv$n/lock" set editing=1 &&
        grub-editenv "$HW_GRUBENV_DIR/mender_grubenv$n/env" set "$@" &&
        grub-editenv "$HW_GRUBENV_DIR/mender_grubenv$n/lock" set editing=0 || return 1
    done
  fi
}

# Runs a command, reporting its exit code, output and seconds taken: hw_run ID command args...
hw_run() {
  local id=$1 rc t0 t1
  shift
  t0=$(cut -d' ' -f1 /proc/uptime)
  "$@" > /tmp/hw_out 2> /tmp/hw_err
  rc=$?
  t1=$(cut -d' ' -f1 /proc/uptime)
  hw_say "run id=$id rc=$rc s=$(echo "$t1 $t0" | awk '{print $1 - $2}') out=$(hw_b64 /tmp/hw_out) err=$(hw_b64 /tmp/hw_err)"
  return $rc
}

# Power-cut points. The step arms one name; when execution reaches it, the board says so
# and stops there, and the host kills the machine (SIGKILL): nothing after the point runs,
# and whatever the guest kernel had not written to the disk is lost.
hw_arm() {
  echo "$1" > /tmp/hw_cut
}

hw_cut_now() {
  hw_say "cut $1"
  while :; do sleep 1; done
}

hw_cut() {
  if [ -f /tmp/hw_cut ] && [ "$(cat /tmp/hw_cut)" = "$1" ]; then
    hw_cut_now "$1"
  fi
}

# Counts calls of a hooked tool, for cut points named after the n-th call.
hw_count() {
  local file=/tmp/hw_count_$1 n
  n=$(( $(cat "$file" 2>/dev/null || echo 0) + 1 ))
  echo "$n" > "$file"
  echo "$n"
}

# Stops process PID once it has written BYTES bytes (from /proc/PID/io), then cuts NAME.
hw_watch_write() {
  local pid=$1 bytes=$2 name=$3 written
  (
    while [ -d "/proc/$pid" ]; do
      written=$(sed -n 's/^wchar: //p' "/proc/$pid/io" 2>/dev/null)
      if [ -n "$written" ] && [ "$written" -ge "$bytes" ]; then
        kill -STOP "$pid"
        hw_cut_now "$name"
      fi
      usleep 20000
    done
  ) &
}

hw_unmount() {
  sync
  [ -n "$HW_BOOT_PART_MOUNT" ] && umount "$HW_BOOT_PART_MOUNT" 2>/dev/null
  umount /mnt/usb 2>/dev/null
  umount /data 2>/dev/null
  sync
}

hw_reboot() {
  hw_unmount
  hw_say "reboot"
  reboot -f
}

hw_poweroff() {
  hw_unmount
  hw_say "poweroff"
  poweroff -f
}

hw_mount_usb() {
  local tries=0 module
  while read -r module; do
    insmod "/lib/modules/usb/$module" 2>/dev/null
  done < /lib/modules/usb/load.order
  while [ ! -b /dev/sda1 ] && [ $tries -lt 100 ]; do
    sleep 0.1
    tries=$((tries + 1))
  done
  mkdir -p /mnt/usb
  mount -t vfat -o ro /dev/sda1 /mnt/usb && hw_say "usb mounted"
}

# ota with the hooked configuration (tool wrappers, device state scripts), for power cuts:
# hw_ota ID ARGS... ; with HW_WRITE_CUT="BYTES NAME" set, the install is stopped and cut
# once it has written BYTES.
hw_ota() {
  local id=$1 cmd=$2 pid rc t0 t1
  shift 2
  t0=$(cut -d' ' -f1 /proc/uptime)
  ota "$cmd" -c /usr/lib/hw/ota-hooks.conf "$@" > /tmp/hw_out 2> /tmp/hw_err &
  pid=$!
  if [ -n "$HW_WRITE_CUT" ]; then
    # shellcheck disable=SC2086
    hw_watch_write "$pid" $HW_WRITE_CUT
  fi
  wait "$pid"
  rc=$?
  t1=$(cut -d' ' -f1 /proc/uptime)
  hw_say "run id=$id rc=$rc s=$(echo "$t1 $t0" | awk '{print $1 - $2}') out=$(hw_b64 /tmp/hw_out) err=$(hw_b64 /tmp/hw_err)"
  return $rc
}

# One bootloader variable, as the bootloader will read it (GRUB: the copy its script loads).
hw_getenv() {
  if [ "$HW_BOOTLOADER" = uboot ]; then
    fw_printenv -n "$1" 2>/dev/null
  else
    local copy=1
    grub-editenv "$HW_GRUBENV_DIR/mender_grubenv2/lock" list | grep -q '^editing=0$' || copy=1
    grub-editenv "$HW_GRUBENV_DIR/mender_grubenv1/lock" list | grep -q '^editing=0$' || copy=2
    grub-editenv "$HW_GRUBENV_DIR/mender_grubenv$copy/env" list | sed -n "s/^$1=//p"
  fi
}

# True when this boot is the trial of an update: the new system runs and awaits a commit.
hw_is_trial() {
  [ "$(hw_getenv upgrade_available)" = 1 ] && [ "$(hw_getenv mender_boot_part)" = "$(hw_mounted_part)" ]
}

# The network the test built (QEMU's restricted user network): the card's driver, a static
# address, no default route. Only the test's server at 10.0.2.100 answers.
hw_net_up() {
  local module tries=0
  while read -r module; do
    insmod "/lib/modules/net/$module" 2>/dev/null
  done < /lib/modules/net/load.order
  while [ ! -e /sys/class/net/eth0 ] && [ $tries -lt 100 ]; do
    sleep 0.1
    tries=$((tries + 1))
  done
  ip link set lo up
  ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up && hw_say "net up"
}

# Runs a systemd unit's service the way systemd would: its ExecStart in the background, the
# output in /run/hw/NAME.log (the journal), started again RestartSec after a failure when
# Restart=on-failure. hw_services_stop stops it as systemd does at shutdown.
hw_service() {
  local unit=$1 name
  name=$(basename "$unit" .service)
  mkdir -p /run/hw/services
  cp "$unit" "/run/hw/services/$name.service"
  (
    exec=$(sed -n 's/^ExecStart=//p' "$unit")
    restart=$(sed -n 's/^Restart=//p' "$unit")
    restart_sec=$(sed -n 's/^RestartSec=//p' "$unit")
    while :; do
      # shellcheck disable=SC2086
      $exec >> "/run/hw/$name.log" 2>&1 &
      echo $! > "/run/hw/services/$name.pid"
      wait $!
      rc=$?
      [ -e "/run/hw/services/$name.stopping" ] && exit 0
      hw_say "service $name exited rc=$rc"
      [ "$restart" = on-failure ] && [ $rc -ne 0 ] || exit 0
      sleep "${restart_sec:-1}"
    done
  ) &
  hw_say "service $name started"
}

# systemd's stop: SIGTERM, SIGKILL after TimeoutStopSec; then the service's log goes to the
# host (base64).
hw_services_stop() {
  local pidfile name pid limit n
  for pidfile in /run/hw/services/*.pid; do
    [ -e "$pidfile" ] || continue
    name=$(basename "$pidfile" .pid)
    touch "/run/hw/services/$name.stopping"
    pid=$(cat "$pidfile")
    limit=$(sed -n 's/^TimeoutStopSec=//p' "/run/hw/services/$name.service")
    kill -TERM "$pid" 2>/dev/null
    n=0
    while [ -d "/proc/$pid" ] && [ $n -lt $((${limit:-90} * 10)) ]; do
      usleep 100000
      n=$((n + 1))
    done
    if [ -d "/proc/$pid" ]; then
      kill -KILL "$pid"
      hw_say "service $name killed after ${limit:-90} s"
    else
      hw_say "service $name stopped s=$((n / 10))"
    fi
    hw_say "log $name $(hw_b64 "/run/hw/$name.log")"
  done
}

# Waits until the service's log has a line matching PATTERN (grep -E), SECONDS at most.
hw_wait_log() {
  local name=$1 pattern=$2 limit=$3 n=0
  while ! grep -qE "$pattern" "/run/hw/$name.log" 2>/dev/null; do
    [ $n -ge "$limit" ] && { hw_say "wait-log timeout $name"; return 1; }
    sleep 1
    n=$((n + 1))
  done
}
