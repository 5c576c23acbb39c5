/**
 * `ota serve` against nginx (Debian) on 127.0.0.1, the same 1 GiB artifact: throughput with
 * 1, 8 and 64 parallel downloads (wrk), and the peak memory of each server while it runs;
 * then the LAN case of serve_lan.ts.
 *
 *   deno task bench serve [--size-mib 1024] [--seconds 8] [--runs 3] [--no-lan]
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { type Bench, flag, OTA, type Row } from "./lib.ts";
import { childrenOf, makeArtifact, peakDuring, result, sh, waitFor } from "./serve_kit.ts";
import { lanCase } from "./serve_lan.ts";

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
  const unit = scale[match[2] ?? ""];
  if (unit === undefined) throw new Error(`wrk printed an unknown unit:\n${out}`);
  return Number(match[1]) * unit;
}

async function loopbackCases(
  dir: string,
  sizeMiB: number,
  seconds: number,
  runs: number,
): Promise<Row[]> {
  const otaPort = 18480;
  const nginxPort = 18481;
  const serve = spawn(OTA, [
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
    const results: Row[] = [];
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
      results.push(
        result(
          `${connections} parallel download${connections > 1 ? "s" : ""}`,
          "MiB/s",
          otaRuns,
          refRuns,
          { ota: otaPeak, reference: refPeak },
          `${sizeMiB} MiB artifact, wrk on 127.0.0.1; reference: nginx`,
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

async function run({ runs, work, args }: { runs: number; work: string; args: string[] }) {
  const sizeMiB = Number(flag(args, "size-mib", "1024"));
  const seconds = Number(flag(args, "seconds", "8"));
  const scratch = await Deno.makeTempDir({ prefix: "ota-bench-serve-", dir: work });
  try {
    const dir = `${scratch}/srv`;
    await Deno.mkdir(dir);
    const artifact = await makeArtifact(dir, sizeMiB);
    const results = await loopbackCases(dir, sizeMiB, seconds, runs);
    if (!args.includes("--no-lan")) results.push(await lanCase(artifact, scratch, sizeMiB));
    return results;
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

export const bench: Bench = {
  name: "serve",
  description: "ota serve vs nginx: 1, 8, 64 parallel downloads; 8 devices with re-serving",
  run,
};
