/**
 * 8 devices updating from one seed on a LAN of network namespaces (each host's uplink
 * limited with tc), without and with re-serving: each device fetches with `ota peers fetch`
 * (a download into the directory its own `ota serve` re-serves; the install itself is not
 * part of the timing).
 */
import { spawn } from "node:child_process";
import { OTA, type Row } from "./lib.ts";
import { childrenOf, makeArtifact, peakDuring, result, sh } from "./serve_kit.ts";

interface Lan {
  /** The namespace of host `i` (0-based). */
  ns(i: number): string;
  address(i: number): string;
  close(): Promise<void>;
}

async function makeLan(hosts: number, rate: string): Promise<Lan> {
  const id = `ob${Deno.pid % 1000}`;
  const sw = `${id}-sw`;
  const ns = Array.from({ length: hosts }, (_, i) => `${id}-h${i}`);
  const close = async () => {
    for (const name of [...ns, sw]) await sh(["ip", "netns", "del", name], true);
  };
  try {
    await sh(["ip", "netns", "add", sw]);
    await sh(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"]);
    await sh(["ip", "-n", sw, "link", "set", "br0", "up"]);
    for (const [i, name] of ns.entries()) {
      await sh(["ip", "netns", "add", name]);
      await sh(["ip", "link", "add", `${id}e${i}`, "type", "veth", "peer", "name", `${id}p${i}`]);
      await sh(["ip", "link", "set", `${id}e${i}`, "netns", name]);
      await sh(["ip", "link", "set", `${id}p${i}`, "netns", sw]);
      await sh(["ip", "-n", sw, "link", "set", `${id}p${i}`, "master", "br0"]);
      await sh(["ip", "-n", sw, "link", "set", `${id}p${i}`, "up"]);
      await sh(["ip", "-n", name, "link", "set", "lo", "up"]);
      await sh(["ip", "-n", name, "addr", "add", `10.251.0.${i + 1}/24`, "dev", `${id}e${i}`]);
      await sh(["ip", "-n", name, "link", "set", `${id}e${i}`, "up"]);
      await sh([
        "ip",
        "netns",
        "exec",
        name,
        "tc",
        "qdisc",
        "replace",
        "dev",
        `${id}e${i}`,
        "root",
        "tbf",
        "rate",
        rate,
        "burst",
        "256kb",
        "latency",
        "100ms",
      ]);
    }
  } catch (error) {
    await close();
    throw error;
  }
  return {
    ns(i) {
      const name = ns[i];
      if (name === undefined) throw new Error(`the LAN has no host ${i}`);
      return name;
    },
    address: (i) => `10.251.0.${i + 1}`,
    close,
  };
}

/** Seconds until all `devices` hold a verified copy, fetched from the seed (and each other). */
async function fleet(
  lan: Lan,
  seedDir: string,
  devices: number,
  reserve: boolean,
  work: string,
): Promise<{ seconds: number; seedPeakMiB: number }> {
  const procs: ReturnType<typeof spawn>[] = [];
  const exec = (i: number, args: string[]) =>
    spawn("ip", ["netns", "exec", lan.ns(i), ...args], { stdio: "ignore" });
  try {
    // The seed: with re-serving it takes two downloads at a time and the rest go to peers.
    const serve = (host: number, dir: string, maxTransfers: number) =>
      exec(host, [
        OTA,
        "serve",
        "--port",
        "8080",
        "--rescan",
        "1",
        "--max-transfers",
        String(maxTransfers),
        dir,
      ]);
    const seed = serve(0, seedDir, reserve ? 2 : 64);
    procs.push(seed);
    // The seed lives in a namespace: ask from inside it.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const out = await sh([
        "ip",
        "netns",
        "exec",
        lan.ns(0),
        "curl",
        "-s",
        `http://${lan.address(0)}:8080/artifacts`,
      ], true);
      if (out.includes('"valid":true')) break;
      if (Date.now() > deadline) throw new Error("the seed never listed the artifact");
      await new Promise((r) => setTimeout(r, 200));
    }
    const dirs = Array.from({ length: devices }, (_, i) => `${work}/device-${i + 1}-${reserve}`);
    for (const [i, dir] of dirs.entries()) {
      await Deno.mkdir(dir, { recursive: true });
      if (reserve) {
        procs.push(serve(i + 1, dir, 2));
      }
    }
    if (reserve) await new Promise((r) => setTimeout(r, 1500));
    const started = performance.now();
    const seedPids = () => [seed.pid!, ...childrenOf(seed.pid!)];
    const { peakMiB } = await peakDuring(
      seedPids,
      () =>
        Promise.all(dirs.map((dir, i) =>
          new Promise<void>((resolve, reject) => {
            // A device keeps trying (re-discovering peers) until it holds the update.
            const script = `until ${OTA} peers fetch --device-type bench-board --wait 1 ` +
              `--progress none -o ${dir} >/dev/null 2>&1; do sleep 0.5; done`;
            const child = exec(i + 1, ["timeout", "600", "sh", "-c", script]);
            procs.push(child);
            child.on(
              "exit",
              (code) => code === 0 ? resolve() : reject(new Error(`device ${i + 1}`)),
            );
          })
        )),
    );
    return { seconds: (performance.now() - started) / 1000, seedPeakMiB: peakMiB };
  } finally {
    for (const proc of procs) proc.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function lanCase(artifact: string, work: string, sizeMiB: number): Promise<Row> {
  const seedDir = `${work}/seed`;
  await Deno.mkdir(seedDir, { recursive: true });
  // A smaller artifact keeps the LAN case within a minute or two.
  const lanArtifact = sizeMiB > 128 ? await makeArtifact(seedDir, 128) : artifact;
  if (lanArtifact === artifact) await Deno.copyFile(artifact, `${seedDir}/release-2.mender`);
  const lan = await makeLan(9, "400mbit");
  try {
    const without = await fleet(lan, seedDir, 8, false, work);
    const withReserve = await fleet(lan, seedDir, 8, true, work);
    return result(
      "8 devices from one seed (400 Mbit/s links)",
      "s",
      [withReserve.seconds],
      [without.seconds],
      { ota: withReserve.seedPeakMiB, reference: without.seedPeakMiB },
      "ota: finished devices re-serve (seed takes 2 at a time); reference: all from the seed",
    );
  } finally {
    await lan.close();
  }
}
