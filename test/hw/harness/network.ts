/**
 * The only network an emulated board gets: QEMU's user network with restrict=on, so the
 * guest can open no connection and send no packet beyond QEMU itself, plus one guestfwd:
 * each TCP connection the guest opens to SERVER_IP:80 is carried by guestfwd.py to the
 * test's server on 127.0.0.1. No other address is reachable from the guest, by
 * construction: restrict=on drops everything that is not a guestfwd.
 */
import { HW_DIR } from "./host.ts";

/** Where the board finds the test's server. */
export const SERVER_IP = "10.0.2.100";
/** The board's own address (static: the guest runs no DHCP client). */
export const BOARD_IP = "10.0.2.15";

/** QEMU arguments: a virtio network card on the restricted user network. */
export function restrictedNetwork(hostPort: number): string[] {
  if (!Number.isInteger(hostPort) || hostPort <= 0 || hostPort > 65535) {
    throw new Error(`not a port: ${hostPort}`);
  }
  const forward = `cmd:/usr/bin/python3 ${HW_DIR}/harness/guestfwd.py ${hostPort}`;
  if (forward.includes(",")) throw new Error("QEMU option values cannot hold a comma here");
  return [
    "-netdev",
    `user,id=net0,restrict=on,net=10.0.2.0/24,host=10.0.2.2,guestfwd=tcp:${SERVER_IP}:80-${forward}`,
    "-device",
    "virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01",
  ];
}
