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

export { table } from "./table.ts";

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
  /** User plus system CPU time of the command and its children. */
  cpuSeconds: number;
  peakMiB: number;
  code: number;
}

/** Medians of several runs. */
export interface Stat {
  seconds: number;
  cpuSeconds: number;
  peakMiB: number;
  runs: Sample[];
}

/** The lowest and highest of the runs behind a median. */
export interface Spread {
  min: number;
  max: number;
}

/** Where a row was measured: on a loaded machine wall times measure the scheduler. */
export interface Machine {
  cpu: string | null;
  cores: number;
  memoryMiB: number | null;
  /** 1, 5 and 15 minute load averages when the row was finished. */
  loadAverage: string;
}

export interface Row {
  case: string;
  /** Median wall time of ota, seconds (or another unit, see `unit`). */
  ota: number;
  reference: number | null;
  /** ota / reference: below 1 means ota is faster (for times). */
  ratio: number | null;
  unit: string;
  /** Min and max of the runs, in `unit`: how far a median can be trusted. */
  spread: { ota: Spread; reference: Spread | null };
  /** Median user + system CPU seconds, when measured per process (far less load-sensitive). */
  cpuSeconds: { ota: number | null; reference: number | null };
  /** Runs behind each median. */
  runs: number;
  peakMiB: { ota: number | null; reference: number | null };
  /** ota / reference for peak memory. */
  memoryRatio: number | null;
  machine: Machine;
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

/** Runs `cmd` once under `/usr/bin/time` (package `time`): wall time, CPU time and peak RSS. */
export async function sample(cmd: string[], options: RunOptions = {}): Promise<Sample> {
  if (options.cold && !dropCaches() && !warnedCold) {
    warnedCold = true;
    console.error("bench: cannot drop the page cache (needs root); runs are warm");
  }
  const report = `${Deno.makeTempFileSync({ prefix: "ota-bench-time-" })}`;
  const started = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M %U %S", "-o", report, ...cmd],
    env: options.env,
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  // GNU time writes "Command exited with non-zero status N" first when the command fails.
  const [peakKiB, user, system] = (readFileSync(report, "utf8").trim().split("\n").pop() ?? "")
    .split(" ").map(Number);
  rmSync(report, { force: true });
  if (!(options.expect ?? [0]).includes(out.code)) {
    const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join("\n");
    throw new Error(`${cmd.join(" ")} exited ${out.code}: ${stderr}`);
  }
  return {
    seconds,
    cpuSeconds: (user ?? NaN) + (system ?? NaN),
    peakMiB: (peakKiB ?? NaN) / 1024,
    code: out.code,
  };
}

/** Medians of samples, with the samples kept. */
export function stat(runs: Sample[]): Stat {
  return {
    seconds: median(runs.map((r) => r.seconds)),
    cpuSeconds: median(runs.map((r) => r.cpuSeconds)),
    peakMiB: median(runs.map((r) => r.peakMiB)),
    runs,
  };
}

export function spreadOf(values: number[]): Spread {
  return { min: Math.min(...values), max: Math.max(...values) };
}

/** Runs `cmd` `runs` times (each after `before`); medians of time and memory. */
export async function measure(cmd: string[], options: RunOptions = {}): Promise<Stat> {
  const runs: Sample[] = [];
  for (let i = 0; i < (options.runs ?? 3); i++) {
    await options.before?.();
    runs.push(await sample(cmd, options));
  }
  return stat(runs);
}

const ratio = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);

/** A table row from ota's and the reference's medians (the reference may be missing). */
export function row(name: string, ota: Stat, reference: Stat | null, note?: string): Row {
  const seconds = (s: Stat) => spreadOf(s.runs.map((r) => r.seconds));
  return {
    case: name,
    ota: ota.seconds,
    reference: reference?.seconds ?? null,
    ratio: ratio(ota.seconds, reference?.seconds ?? null),
    unit: "s",
    spread: { ota: seconds(ota), reference: reference ? seconds(reference) : null },
    cpuSeconds: { ota: ota.cpuSeconds, reference: reference?.cpuSeconds ?? null },
    runs: ota.runs.length,
    peakMiB: { ota: ota.peakMiB, reference: reference?.peakMiB ?? null },
    memoryRatio: ratio(ota.peakMiB, reference?.peakMiB ?? null),
    machine: machine(),
    ...(note ? { note } : {}),
  };
}

/**
 * A row of values measured another way (throughputs, say): medians and spread of the runs,
 * the peaks as given.
 */
export function valueRow(
  name: string,
  unit: string,
  ota: number[],
  reference: number[] | null,
  peakMiB: { ota: number | null; reference: number | null },
  note?: string,
): Row {
  const o = median(ota);
  const r = reference ? median(reference) : null;
  return {
    case: name,
    ota: o,
    reference: r,
    ratio: ratio(o, r),
    unit,
    spread: { ota: spreadOf(ota), reference: reference ? spreadOf(reference) : null },
    cpuSeconds: { ota: null, reference: null },
    runs: ota.length,
    peakMiB,
    memoryRatio: ratio(peakMiB.ota, peakMiB.reference),
    machine: machine(),
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
  return row(name, stat(ours), reference ? stat(theirs) : null, options.note);
}

/** The machine now: CPU model, cores, RAM and load average. */
export function machine(): Machine {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? null;
  const mem = /MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    memoryMiB: mem ? Math.round(Number(mem) / 1024) : null,
    loadAverage: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

/** The machine as results files have always named it (cpus, cpu, memoryMiB, loadAverage). */
export function host(): Record<string, unknown> {
  const { cores, ...rest } = machine();
  return { cpus: cores, ...rest };
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
