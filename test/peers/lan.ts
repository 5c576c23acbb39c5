/**
 * A small LAN on this machine: network namespaces joined by veth pairs to a bridge that
 * lives in a namespace of its own, addresses only inside them. Everything is removed on
 * dispose, and at unload as a last resort.
 */
import { run, sh } from "../helpers/mod.ts";

export interface Lan extends AsyncDisposable {
  /** `ip netns exec <ns>` for host `i` (1-based), to prefix a command. */
  exec(host: number): [string, ...string[]];
  address(host: number): string;
  /** Limits what host `i` sends, with a token bucket (tc tbf). */
  limit(host: number, rate: string): Promise<void>;
  names: string[];
}

export async function makeLan(hosts: number): Promise<Lan> {
  const id = `o${Deno.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const sw = `${id}-sw`;
  const names = Array.from({ length: hosts }, (_, i) => `${id}-h${i + 1}`);
  const subnet = `10.${200 + (Deno.pid % 50)}.${Math.floor(Math.random() * 250)}`;
  const cleanup = async () => {
    for (const ns of [...names, sw]) await run(["ip", "netns", "del", ns]);
  };
  const unload = () => {
    for (const ns of [...names, sw]) {
      new Deno.Command("ip", { args: ["netns", "del", ns], stderr: "null" }).outputSync();
    }
  };
  globalThis.addEventListener("unload", unload);
  const nameOf = (host: number) => {
    const name = names[host - 1];
    if (name === undefined) throw new Error(`the LAN has no host ${host}`);
    return name;
  };
  try {
    await sh(["ip", "netns", "add", sw]);
    await sh(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"]);
    await sh(["ip", "-n", sw, "link", "set", "br0", "up"]);
    for (const [i, ns] of names.entries()) {
      const port = `${id}p${i + 1}`;
      const eth = `${id}e${i + 1}`;
      await sh(["ip", "netns", "add", ns]);
      await sh(["ip", "link", "add", eth, "type", "veth", "peer", "name", port]);
      await sh(["ip", "link", "set", eth, "netns", ns]);
      await sh(["ip", "link", "set", port, "netns", sw]);
      await sh(["ip", "-n", sw, "link", "set", port, "master", "br0"]);
      await sh(["ip", "-n", sw, "link", "set", port, "up"]);
      await sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
      await sh(["ip", "-n", ns, "link", "set", eth, "name", "eth0"]);
      await sh(["ip", "-n", ns, "addr", "add", `${subnet}.${i + 1}/24`, "dev", "eth0"]);
      await sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
    }
  } catch (error) {
    await cleanup();
    throw error;
  }
  return {
    names,
    exec: (host) => ["ip", "netns", "exec", nameOf(host)],
    address: (host) => `${subnet}.${host}`,
    async limit(host, rate) {
      await sh([
        "ip",
        "netns",
        "exec",
        nameOf(host),
        "tc",
        "qdisc",
        "replace",
        "dev",
        "eth0",
        "root",
        "tbf",
        "rate",
        rate,
        "burst",
        "64kb",
        "latency",
        "200ms",
      ]);
    },
    async [Symbol.asyncDispose]() {
      globalThis.removeEventListener("unload", unload);
      await cleanup();
    },
  };
}
