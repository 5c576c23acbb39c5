/**
 * Size and idle memory of each build (bench/README.md, Results, Builds):
 * - size, and size after `xz -9 -T0 -k` (what a device download or an image would carry);
 * - idle RSS: `ota artifact read FIFO` blocked opening a FIFO nobody writes, everything a
 *   command loads loaded; VmHWM (peak resident) of the process, sampled every 100 ms until
 *   it has not grown for 3 s. Under qemu-user that process is the emulator: the figure is
 *   qemu's own memory (code cache included) plus the guest's, not a device figure;
 * - peak RSS of `ota --version` under GNU time, the figure the README used before.
 *
 *   deno run -A bench/builds.ts [--runs 3] [--node PATH,...]   (dist/ built first)
 */
import { execFileSync, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { ensureDir, flag, host, median, ROOT, sample } from "./lib.ts";

const args = [...Deno.args];
const runs = Number(flag(args, "runs", "3"));
const nodes = flag(args, "node", "node").split(",");
const work = ensureDir(`${ROOT}/.work/bench/builds`);

const builds: { name: string; file: string; cmd: string[] }[] = [
  { name: "linux-x64 (bun)", file: `${ROOT}/dist/ota`, cmd: [] },
  {
    name: "linux-arm64 (bun, under qemu-aarch64)",
    file: `${ROOT}/dist/ota-linux-arm64`,
    cmd: ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"],
  },
  {
    name: "linux-armv7 (Node 20.11 SEA, under qemu-arm)",
    file: `${ROOT}/dist/ota-linux-armv7`,
    cmd: ["qemu-arm-static", "-L", "/usr/arm-linux-gnueabihf"],
  },
  ...nodes.map((node) => ({
    name: `ota.js (Node ${execFileSync(node, ["-v"]).toString().trim().slice(1)})`,
    file: `${ROOT}/dist/ota.js`,
    cmd: [node],
  })),
];

function statusKiB(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
}

/** VmHWM of `cmd artifact read FIFO` once it sits blocked on the FIFO. */
async function idleMiB(cmd: string[]): Promise<number> {
  const fifo = `${work}/idle.fifo`;
  rmSync(fifo, { force: true });
  execFileSync("mkfifo", [fifo]);
  const child = spawn(cmd[0]!, [...cmd.slice(1), "artifact", "read", fifo], { stdio: "ignore" });
  let peak = 0, since = Date.now();
  try {
    while (Date.now() - since < 3000) {
      await new Promise((r) => setTimeout(r, 100));
      const now = statusKiB(child.pid!, "VmHWM");
      if (now > peak) [peak, since] = [now, Date.now()];
    }
  } finally {
    child.kill("SIGKILL");
    rmSync(fifo, { force: true });
  }
  return peak / 1024;
}

const spread = (values: number[], digits: number) =>
  `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${
    Math.max(...values).toFixed(digits)
  })`;

const rows = [];
for (const build of builds) {
  if (!existsSync(build.file)) throw new Error(`${build.file} is missing: deno task build`);
  const copy = `${work}/${build.file.split("/").pop()}`;
  copyFileSync(build.file, copy);
  execFileSync("xz", ["-9", "-T0", "-k", "-f", copy]);
  const idle: number[] = [], version: number[] = [];
  for (let i = 0; i < runs; i++) {
    idle.push(await idleMiB([...build.cmd, build.file]));
    version.push((await sample([...build.cmd, build.file, "--version"])).peakMiB);
  }
  const row = {
    build: build.name,
    sizeMB: statSync(build.file).size / 1e6,
    xzMB: statSync(`${copy}.xz`).size / 1e6,
    idleMiB: idle,
    versionPeakMiB: version,
  };
  rows.push(row);
  console.log(
    `| ${row.build} | ${row.sizeMB.toFixed(1)} MB | ${row.xzMB.toFixed(1)} MB | ` +
      `${spread(idle, 1)} MiB | ${spread(version, 1)} MiB |`,
  );
}

mkdirSync(`${ROOT}/bench/results`, { recursive: true });
const doc = { bench: "builds", date: new Date().toISOString(), host: host(), runs, rows };
writeFileSync(`${ROOT}/bench/results/builds.json`, `${JSON.stringify(doc, null, 2)}\n`);
