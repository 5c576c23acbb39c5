/**
 * The benchmark kit: run a command a few times under GNU time (wall time, peak resident
 * memory), take medians, compare ota with the reference tool, print a table and keep the
 * figures in bench/results/NAME.json. A benchmark is a module in bench/ that exports
 * `bench` (see bench/README.md); `deno task bench [name...]` runs them.
 */
import { randomFillSync } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../", import.meta.url)).replace(/\/$/, "");
/** The compiled binary: benchmarks measure what ships. */
export const OTA = `${ROOT}/dist/ota`;

export interface BenchOptions {
  /** Timed runs per measurement; the median is kept. */
  runs: number;
  /** Drop the page cache before every run (root only; files are then read from disk). */
  cold: boolean;
  /** Scratch directory for inputs and outputs; large files are kept between runs. */
  work: string;
  /** Arguments after the benchmark's name, for its own flags. */
  args: string[];
}

export interface Bench {
  name: string;
  /** One line: what is measured against what. */
  description: string;
  run(options: BenchOptions): Promise<Row[]>;
}

/** One run of one command. */
export interface Sample {
  seconds: number;
  peakMiB: number;
  code: number;
}

/** Medians of several runs. */
export interface Stat {
  seconds: number;
  peakMiB: number;
  runs: Sample[];
}

export interface Row {
  case: string;
  /** Median wall time of ota, seconds (or another unit, see `unit`). */
  ota: number;
  reference: number | null;
  /** ota / reference: below 1 means ota is faster (for times). */
  ratio: number | null;
  unit: string;
  peakMiB: { ota: number | null; reference: number | null };
  /** ota / reference for peak memory. */
  memoryRatio: number | null;
  note?: string;
}

export interface RunOptions {
  runs?: number;
  cold?: boolean;
  /** Untimed work before every run (remove an output, for instance). */
  before?: () => void | Promise<void>;
  /** Exit codes that count as success (default: 0). */
  expect?: number[];
  env?: Record<string, string>;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const upper = sorted[mid];
  if (upper === undefined) throw new Error("the median of no values");
  return sorted.length % 2 ? upper : (sorted[mid - 1]! + upper) / 2; // mid >= 1 when even
}

/** Syncs and drops the page cache; false when not allowed (not root, in a container). */
export function dropCaches(): boolean {
  try {
    new Deno.Command("sync").outputSync();
    writeFileSync("/proc/sys/vm/drop_caches", "3\n");
    return true;
  } catch {
    return false;
  }
}

let warnedCold = false;

/** Runs `cmd` once under `/usr/bin/time` (package `time`): wall time and peak RSS. */
export async function sample(cmd: string[], options: RunOptions = {}): Promise<Sample> {
  if (options.cold && !dropCaches() && !warnedCold) {
    warnedCold = true;
    console.error("bench: cannot drop the page cache (needs root); runs are warm");
  }
  const report = `${Deno.makeTempFileSync({ prefix: "ota-bench-time-" })}`;
  const started = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", "-o", report, ...cmd],
    env: options.env,
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const peakKiB = Number(readFileSync(report, "utf8").trim().split("\n").pop());
  rmSync(report, { force: true });
  if (!(options.expect ?? [0]).includes(out.code)) {
    const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join("\n");
    throw new Error(`${cmd.join(" ")} exited ${out.code}: ${stderr}`);
  }
  return { seconds, peakMiB: peakKiB / 1024, code: out.code };
}

/** Runs `cmd` `runs` times (each after `before`); medians of time and memory. */
export async function measure(cmd: string[], options: RunOptions = {}): Promise<Stat> {
  const runs: Sample[] = [];
  for (let i = 0; i < (options.runs ?? 3); i++) {
    await options.before?.();
    runs.push(await sample(cmd, options));
  }
  return {
    seconds: median(runs.map((r) => r.seconds)),
    peakMiB: median(runs.map((r) => r.peakMiB)),
    runs,
  };
}

const ratio = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);

/** A table row from ota's and the reference's medians (the reference may be missing). */
export function row(name: string, ota: Stat, reference: Stat | null, note?: string): Row {
  return {
    case: name,
    ota: ota.seconds,
    reference: reference?.seconds ?? null,
    ratio: ratio(ota.seconds, reference?.seconds ?? null),
    unit: "s",
    peakMiB: { ota: ota.peakMiB, reference: reference?.peakMiB ?? null },
    memoryRatio: ratio(ota.peakMiB, reference?.peakMiB ?? null),
    ...(note ? { note } : {}),
  };
}

/**
 * Measures ota and the reference for one case, interleaved run by run so that a disturbance
 * on the machine hits both alike.
 */
export async function compare(
  name: string,
  ota: string[],
  reference: string[] | null,
  options: RunOptions & { note?: string } = {},
): Promise<Row> {
  const ours: Sample[] = [];
  const theirs: Sample[] = [];
  for (let i = 0; i < (options.runs ?? 3); i++) {
    await options.before?.();
    ours.push(await sample(ota, options));
    if (reference) {
      await options.before?.();
      theirs.push(await sample(reference, options));
    }
  }
  const stat = (runs: Sample[]): Stat => ({
    seconds: median(runs.map((r) => r.seconds)),
    peakMiB: median(runs.map((r) => r.peakMiB)),
    runs,
  });
  return row(name, stat(ours), reference ? stat(theirs) : null, options.note);
}

function fixed(value: number | null, digits: number): string {
  return value === null ? "–" : value.toFixed(digits);
}

/** The rows as a Markdown table (fit for the README). */
export function table(rows: Row[], reference = "reference"): string {
  const lines = [
    `| case | ota | ${reference} | ratio | ota peak MiB | ${reference} peak MiB | memory ratio |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.case}${r.note ? ` (${r.note})` : ""} | ${fixed(r.ota, 2)} ${r.unit} | ` +
      `${r.reference === null ? "–" : `${fixed(r.reference, 2)} ${r.unit}`} | ${
        fixed(r.ratio, 2)
      } | ` +
      `${fixed(r.peakMiB.ota, 0)} | ${fixed(r.peakMiB.reference, 0)} | ${fixed(r.memoryRatio, 2)} |`
    ),
  ];
  return lines.join("\n");
}

export function host(): Record<string, unknown> {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1];
  const mem = /MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
  return {
    cpus: navigator.hardwareConcurrency,
    cpu,
    memoryMiB: mem ? Math.round(Number(mem) / 1024) : null,
    loadAverage: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

/** Writes bench/results/NAME.json: when, where, how, and the rows. */
export function writeResults(
  name: string,
  rows: Row[],
  extra: Record<string, unknown> = {},
): string {
  const dir = `${ROOT}/bench/results`;
  mkdirSync(dir, { recursive: true });
  const path = `${dir}/${name}.json`;
  const doc = { bench: name, date: new Date().toISOString(), host: host(), ...extra, rows };
  writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
  return path;
}

/** Value of `--name VALUE` in `args`, or `fallback`. */
export function flag(args: string[], name: string, fallback: string): string {
  const at = args.indexOf(`--${name}`);
  return (at >= 0 ? args[at + 1] : undefined) ?? fallback;
}

/** Output of a command (for versions); empty when it fails. */
export function version(cmd: string[]): string {
  try {
    if (cmd[0] === undefined) throw new Error("an empty command line");
    const out = new Deno.Command(cmd[0], { args: cmd.slice(1), stderr: "null" }).outputSync();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "";
  }
}

export function ensureDir(path: string): string {
  if (!existsSync(path)) mkdirSync(path, { recursive: true });
  return path;
}

/**
 * A test image of `mib` MiB, kept between runs: random 1 MiB blocks, every `zeroEvery`-th
 * (from the second) all zeros, so part of it compresses away as a real filesystem would.
 */
export function patternFile(path: string, mib: number, zeroEvery: number | null = 2): string {
  const MiB = 1024 * 1024;
  if (existsSync(path) && statSync(path).size === mib * MiB) return path;
  const fd = openSync(path, "w");
  const block = new Uint8Array(MiB);
  const zeros = new Uint8Array(MiB);
  for (let i = 0; i < mib; i++) {
    writeSync(fd, zeroEvery && i % zeroEvery === 1 ? zeros : randomFillSync(block));
  }
  closeSync(fd);
  return path;
}

/** Runs an untimed setup command; fails the benchmark with its stderr. */
export function mustRun(cmd: string[]): void {
  if (cmd[0] === undefined) throw new Error("an empty command line");
  const out = new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "null", stderr: "piped" })
    .outputSync();
  if (out.code !== 0) throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

export interface ArtifactSpec {
  name: string;
  /** The image (rootfs-image) or the one payload file (module-image). */
  file: string;
  compression: string;
  /** Makes a module-image for this Update Module instead of a rootfs-image. */
  moduleType?: string;
}

/** Writes OUT with dist/ota for the device type `bench-board`, unless a run already did. */
export function otaArtifact(out: string, spec: ArtifactSpec): string {
  if (existsSync(out)) return out;
  const type = spec.moduleType ? ["module-image", "-T", spec.moduleType] : ["rootfs-image"];
  mustRun([
    OTA,
    "artifact",
    "write",
    ...type,
    "-n",
    spec.name,
    "-t",
    "bench-board",
    "-f",
    spec.file,
    "-o",
    out,
    "--compression",
    spec.compression,
    "--no-progress",
  ]);
  return out;
}

/** `ota install ARTIFACT` on a simulated device in DIR, with its own data directory. */
export function otaInstall(dir: string, artifact: string): string[] {
  return [
    OTA,
    "install",
    "--config",
    `${dir}/etc/mender/mender.conf`,
    "--data",
    `${dir}/ota-data`,
    "--progress=none",
    artifact,
  ];
}
