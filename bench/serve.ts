/**
 * `ota serve` against nginx (Debian) on 127.0.0.1, the same 1 GiB artifact: throughput with
 * 1, 8 and 64 parallel downloads (wrk), and the peak memory of each server while it runs.
 * Then 8 devices updating from one seed on a LAN of network namespaces (each host's uplink
 * limited with tc), without and with re-serving: each device fetches with `ota peers fetch`
 * (a download into the directory its own `ota serve` re-serves; the install itself is not
 * part of the timing).
 *
 *   deno run -A bench/serve.ts [--size-mib 1024] [--seconds 8] [--runs 3] [--no-lan]
 *
 * Prints a table and writes medians and ratios to bench/results/serve.json.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url)).replace(/\/$/, "");
const BINARY = `${ROOT}/dist/ota`;

/** One row, in the shape of the bench kit's rows (bench/lib.ts), so `deno task bench` runs it. */
interface Result {
  case: string;
  ota: number;
  reference: number | null;
  /** ota / reference: above 1 is better for MiB/s, below 1 is better for seconds. */
  ratio: number | null;
  unit: string;
  peakMiB: { ota: number | null; reference: number | null };
  memoryRatio: number | null;
  note?: string;
}

function result(
  name: string,
  unit: string,
  ota: number,
  reference: number,
  peak: { ota: number; reference: number },
  note?: string,
): Result {
  return {
    case: name,
    ota,
    reference,
    ratio: ota / reference,
    unit,
    peakMiB: peak,
    memoryRatio: peak.ota / peak.reference,
    note,
  };
}

function flag(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
}

async function sh(cmd: string[], quiet = false): Promise<string> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stderr: "piped",
    stdout: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0 && !quiet) {
    throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

/** Resident memory (KiB) of a process and its children, from /proc. */
function rssKiB(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch { /* exited */ }
  }
  return total;
}

function childrenOf(pid: number): number[] {
  try {
    const tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return tasks ? tasks.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}

/** Samples the peak RSS of `pids()` every 50 ms while `work` runs. */
async function peakDuring<T>(pids: () => number[], work: () => Promise<T>) {
  let peak = rssKiB(pids());
  const timer = setInterval(() => peak = Math.max(peak, rssKiB(pids())), 50);
  try {
    const value = await work();
    return { value, peakMiB: Math.max(peak, rssKiB(pids())) / 1024 };
  } finally {
    clearInterval(timer);
  }
}

/** wrk's "Transfer/sec" in MiB/s. */
async function wrk(url: string, connections: number, seconds: number): Promise<number> {
  const out = await sh([
    "wrk",
    "-t",
    String(Math.min(2, connections)),
    "-c",
    String(connections),
    "-d",
    `${seconds}s`,
    "--timeout",
    "60s",
    url,
  ]);
  const match = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(out);
  if (!match) throw new Error(`wrk printed no rate:\n${out}`);
  const scale: Record<string, number> = { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 };
  return Number(match[1]) * scale[match[2]];
}

/** Polls `url` until `check` accepts its body (for HEAD: its status). */
async function waitFor(url: string, check: (body: string) => boolean, method = "GET") {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const body = await fetch(url, { method })
      .then(async (r) => method === "HEAD" ? String(r.status) : await r.text())
      .catch(() => "");
    if (check(body)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} never became ready`);
}

async function makeArtifact(dir: string, sizeMiB: number): Promise<string> {
  const image = `${dir}/image.bin`;
  await sh(["dd", "if=/dev/urandom", `of=${image}`, "bs=1M", `count=${sizeMiB}`, "status=none"]);
  const artifact = `${dir}/release-2.mender`;
  await sh([
    BINARY,
    "artifact",
    "write",
    "rootfs-image",
    "-n",
    "release-2",
    "-t",
    "bench-board",
    "-f",
    image,
    "-o",
    artifact,
    "--compression",
    "none",
  ]);
  await Deno.remove(image);
  return artifact;
}

async function loopbackCases(dir: string, seconds: number, runs: number): Promise<Result[]> {
  const otaPort = 18480;
  const nginxPort = 18481;
  const serve = spawn(BINARY, [
    "serve",
    "--host",
    "127.0.0.1",
    "--port",
    String(otaPort),
    "--no-announce",
    "--max-transfers",
    "256",
    dir,
  ], { stdio: "ignore" });
  const prefix = await Deno.makeTempDir({ prefix: "ota-bench-nginx-" });
  writeFileSync(
    `${prefix}/nginx.conf`,
    // Workers run as root here only so that they can read the private temp directory.
    `${Deno.uid() === 0 ? "user root;\n" : ""}worker_processes auto;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  server { listen 127.0.0.1:${nginxPort}; root ${dir}; }
}
`,
  );
  const nginx = spawn("nginx", ["-c", `${prefix}/nginx.conf`, "-p", prefix, "-g", "daemon off;"], {
    stdio: "ignore",
  });
  try {
    await waitFor(`http://127.0.0.1:${otaPort}/artifacts`, (b) => b.includes('"valid":true'));
    await waitFor(`http://127.0.0.1:${nginxPort}/release-2.mender`, (b) => b === "200", "HEAD");
    const results: Result[] = [];
    for (const connections of [1, 8, 64]) {
      const otaRuns: number[] = [];
      const refRuns: number[] = [];
      let otaPeak = 0;
      let refPeak = 0;
      for (let run = 0; run < runs; run++) {
        const o = await peakDuring(
          () => [serve.pid!],
          () => wrk(`http://127.0.0.1:${otaPort}/artifacts/release-2.mender`, connections, seconds),
        );
        const n = await peakDuring(
          () => [nginx.pid!, ...childrenOf(nginx.pid!)],
          () => wrk(`http://127.0.0.1:${nginxPort}/release-2.mender`, connections, seconds),
        );
        otaRuns.push(o.value);
        refRuns.push(n.value);
        otaPeak = Math.max(otaPeak, o.peakMiB);
        refPeak = Math.max(refPeak, n.peakMiB);
      }
      const ota = median(otaRuns);
      const reference = median(refRuns);
      results.push(
        result(
          `${connections} parallel download${connections > 1 ? "s" : ""}`,
          "MiB/s",
          ota,
          reference,
          { ota: otaPeak, reference: refPeak },
          "1 GiB artifact, wrk on 127.0.0.1; reference: nginx",
        ),
      );
    }
    return results;
  } finally {
    serve.kill("SIGTERM");
    nginx.kill("SIGTERM");
    await Deno.remove(prefix, { recursive: true }).catch(() => {});
  }
}

// ---- 8 devices from one seed, on a LAN of namespaces ----

interface Lan {
  ns: string[];
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
  return { ns, address: (i) => `10.251.0.${i + 1}`, close };
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
    spawn("ip", ["netns", "exec", lan.ns[i], ...args], { stdio: "ignore" });
  try {
    // The seed: with re-serving it takes two downloads at a time and the rest go to peers.
    const seed = exec(0, [
      BINARY,
      "serve",
      "--port",
      "8080",
      "--rescan",
      "1",
      "--max-transfers",
      reserve ? "2" : "64",
      seedDir,
    ]);
    procs.push(seed);
    // The seed lives in a namespace: ask from inside it.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const out = await sh([
        "ip",
        "netns",
        "exec",
        lan.ns[0],
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
        procs.push(
          exec(i + 1, [
            BINARY,
            "serve",
            "--port",
            "8080",
            "--rescan",
            "1",
            "--max-transfers",
            "2",
            dir,
          ]),
        );
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
            const script = `until ${BINARY} peers fetch --device-type bench-board --wait 1 ` +
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

async function lanCase(artifact: string, work: string, sizeMiB: number): Promise<Result> {
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
      withReserve.seconds,
      without.seconds,
      { ota: withReserve.seedPeakMiB, reference: without.seedPeakMiB },
      "ota: finished devices re-serve (seed takes 2 at a time); reference: all from the seed",
    );
  } finally {
    await lan.close();
  }
}

export async function runServeBench(
  args: string[],
  runs: number,
  workDir?: string,
): Promise<Result[]> {
  const sizeMiB = flag(args, "size-mib", 1024);
  const seconds = flag(args, "seconds", 8);
  const work = await Deno.makeTempDir({ prefix: "ota-bench-serve-", dir: workDir });
  try {
    const dir = `${work}/srv`;
    await Deno.mkdir(dir);
    const artifact = await makeArtifact(dir, sizeMiB);
    const results = await loopbackCases(dir, seconds, runs);
    if (!args.includes("--no-lan")) results.push(await lanCase(artifact, work, sizeMiB));
    return results;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/** For `deno task bench serve` (bench/main.ts). */
export const bench = {
  name: "serve",
  description: "ota serve vs nginx: 1, 8, 64 parallel downloads; 8 devices with re-serving",
  run: (o: { runs: number; work: string; args: string[] }) => runServeBench(o.args, o.runs, o.work),
};

function print(results: Result[]): void {
  const rows = [["case", "unit", "ota", "reference", "ratio", "peak MiB ota", "peak MiB ref"]];
  const n = (v: number | null, digits = 1) => v === null ? "-" : v.toFixed(digits);
  for (const r of results) {
    rows.push([
      r.case,
      r.unit,
      n(r.ota),
      n(r.reference),
      `${n(r.ratio, 2)}x`,
      n(r.peakMiB.ota, 0),
      n(r.peakMiB.reference, 0),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i])).join("  "));
}

if (import.meta.main) {
  const results = await runServeBench(Deno.args, flag(Deno.args, "runs", 3));
  print(results);
  mkdirSync(`${ROOT}/bench/results`, { recursive: true });
  const doc = { bench: "serve", date: new Date().toISOString(), rows: results };
  writeFileSync(`${ROOT}/bench/results/serve.json`, `${JSON.stringify(doc, null, 2)}\n`);
}
