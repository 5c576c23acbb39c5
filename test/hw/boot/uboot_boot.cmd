# The board's boot script, found by U-Boot's distro boot on the boot partition. U-Boot's
# qemu-x86 build keeps its environment nowhere, so this script plays the parts that a board
# prepared for Mender has compiled in: the default environment (meta-mender's variables),
# environment storage at a fixed disk offset in the redundant format fw_printenv/fw_setenv
# use (two copies of ENV_SIZE bytes at 0x400000 and 0x800000: CRC32, flag byte, data), and
# the boot counter (CONFIG_BOOTCOUNT_LIMIT with CONFIG_BOOTCOUNT_ENV: count while
# upgrade_available=1, run altbootcmd once bootcount exceeds bootlimit).
# U-Boot has no setexpr here, so numbers move through small lookup chains.
echo "@@HW uboot start"
load ${devtype} ${devnum}:${distro_bootpart} 0x7f00000 ${prefix}hw_saveenv.scr

# The default environment (what meta-mender's patch compiles into U-Boot).
setenv bootlimit 1
setenv bootcount 0
setenv upgrade_available 0
setenv mender_boot_part 2
setenv mender_boot_part_hex 2
setenv mender_uboot_if virtio
setenv mender_uboot_dev 0
setenv mender_boot_kernel_type zboot
setenv mender_kernel_name vmlinuz
setenv mender_initrd_name initrd.img
setenv mender_check_saveenv_canary 1
setenv hw_saveenv 'source 0x7f00000'
# no_timer_check: the kernel's IO-APIC timer check fails when TCG runs on a busy host
setenv bootargs 'console=ttyS0,115200 rootwait ro panic=2 quiet no_timer_check'
setenv mender_setup 'if test "${mender_saveenv_canary}" != "1"; then setenv mender_saveenv_canary 1; run hw_saveenv; fi; setenv mender_kernel_root /dev/vda${mender_boot_part}; setenv mender_boot_part_name /dev/vda${mender_boot_part}; setenv mender_kernel_root_name ${mender_boot_part_name}; setenv mender_uboot_root ${mender_uboot_if} ${mender_uboot_dev}:${mender_boot_part_hex}; setenv mender_uboot_root_name ${mender_boot_part_name}'
setenv mender_altbootcmd 'if test ${mender_boot_part} = 2; then setenv mender_boot_part 3; setenv mender_boot_part_hex 3; else setenv mender_boot_part 2; setenv mender_boot_part_hex 2; fi; setenv upgrade_available 0; run hw_saveenv; run mender_setup'
setenv altbootcmd 'run mender_altbootcmd; run bootcmd'
setenv mender_try_to_recover 'if test ${upgrade_available} = 1; then echo "@@HW uboot try-to-recover reset"; reset; fi'
setenv bootcmd 'run mender_setup; setenv bootargs root=${mender_kernel_root} ${bootargs}; echo "@@HW uboot boot part=${mender_boot_part} upgrade_available=${upgrade_available} bootcount=${bootcount}"; load ${mender_uboot_root} ${kernel_addr_r} /boot/${mender_kernel_name}; load ${mender_uboot_root} ${ramdisk_addr_r} /boot/${mender_initrd_name}; ${mender_boot_kernel_type} ${kernel_addr_r} 0 ${ramdisk_addr_r} ${filesize}; run mender_try_to_recover'

# The saved environment: both copies, the newer first (flag byte, 0 follows 255); a copy
# whose CRC does not match is skipped, and with none valid the defaults stand.
virtio read 0x10000000 0x2000 0x100
virtio read 0x11000000 0x4000 0x100
hw_first=1
if itest.b *0x10000004 == 0xff && itest.b *0x11000004 == 0; then
  hw_first=2
elif itest.b *0x11000004 == 0xff && itest.b *0x10000004 == 0; then
  hw_first=1
elif itest.b *0x11000004 -gt *0x10000004; then
  hw_first=2
fi
setenv hw_import1 'cp.b 0x10000000 0x12000000 4; cp.b 0x10000005 0x12000004 0x1fffb; env import -c 0x12000000 0x1ffff'
setenv hw_import2 'cp.b 0x11000000 0x12000000 4; cp.b 0x11000005 0x12000004 0x1fffb; env import -c 0x12000000 0x1ffff'
hw_cur=none
if test ${hw_first} = 2; then
  if run hw_import2; then hw_cur=2; elif run hw_import1; then hw_cur=1; fi
else
  if run hw_import1; then hw_cur=1; elif run hw_import2; then hw_cur=2; fi
fi
echo "@@HW uboot env copy=${hw_cur} mender_boot_part=${mender_boot_part} upgrade_available=${upgrade_available} bootcount=${bootcount} bootlimit=${bootlimit}"

# The boot counter: only while an update is on trial.
if test "${upgrade_available}" = 1; then
#@BOOTCOUNT_INCREMENT
  run hw_saveenv
fi
if test "${upgrade_available}" = 1 && test ${bootcount} -gt ${bootlimit}; then
  echo "@@HW uboot altbootcmd bootcount=${bootcount}"
  run altbootcmd
else
  run bootcmd
fi
echo "@@HW uboot boot-failed"
