# saveenv for the boot script: export the whole environment with its CRC, add the flag
# byte (the current copy's plus one, 0 after 255) and write the copy that is not current,
# so a power cut during the write leaves the other copy whole.
env export -c -s 0x1ffff 0x12000000
cp.b 0x12000000 0x13000000 4
cp.b 0x12000004 0x13000005 0x1fffb
if test "${hw_cur}" = 1; then
#@FLAG_INCREMENT 0x10000004 0x13000004
  virtio write 0x13000000 0x4000 0x100
  cp.b 0x13000000 0x11000000 0x20000
  hw_cur=2
elif test "${hw_cur}" = 2; then
#@FLAG_INCREMENT 0x11000004 0x13000004
  virtio write 0x13000000 0x2000 0x100
  cp.b 0x13000000 0x10000000 0x20000
  hw_cur=1
else
  mw.b 0x13000004 1
  virtio write 0x13000000 0x2000 0x100
  cp.b 0x13000000 0x10000000 0x20000
  hw_cur=1
fi
echo "@@HW uboot saveenv copy=${hw_cur}"
