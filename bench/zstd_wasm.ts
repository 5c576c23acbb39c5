/**
 * zstd's WebAssembly build (what Node 20 runs: the armv7 executable, ota.js) against node:zlib's
 * zstd on this machine, medians of `--runs` (5) runs interleaved, with min and max:
 * - decoding a zstd stream of `--mib` (1024) MiB, written by the zstd CLI from stdin at -3,
 *   in one Deno process each, through src/artifact/compression.ts with the path forced: of an
 *   image (patternFile's: random MiBs and zeros, mostly copies for zstd) and of text-like data
 *   (test/helpers/zstd_cli.ts's, about 60 %: Huffman and FSE decoding all the way);
 * - `ota artifact validate` of a zstd artifact of the image: ota.js on the `node` in PATH
 *   (Node 20: WebAssembly) and dist/ota (Bun: node:zlib), what ships on each.
 * Wall time and peak RSS come from GNU time (the decoding rows' MiB/s from the child's own
 * clock, Deno's start-up left out).
 *
 *   deno run -A bench/zstd_wasm.ts [--runs 5] [--mib 1024]     (dist/ built first)
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { decompress, useZstdWasm } from "../src/artifact/compression.ts";
import { buildZstdWasm } from "../scripts/zstd_wasm.ts";
import { compressible } from "../test/helpers/zstd_cli.ts";
import {
  ensureDir,
  flag,
  host,
  median,
  otaArtifact,
  patternFile,
  ROOT,
  type Sample,
  sample,
} from "./lib.ts";

const args = [...Deno.args];

/** The child: decodes FILE through one path and writes how long that took to REPORT. */
if (args[0] === "--decode") {
  const [, file, path, report] = args;
  useZstdWasm(path === "wasm");
  const started = performance.now();
  using input = await Deno.open(file!);
  let bytes = 0;
  for await (const chunk of decompress(input.readable, "zstd", { xzMemlimit: 0 })) {
    bytes += chunk.byteLength;
  }
  writeFileSync(report!, JSON.stringify({ seconds: (performance.now() - started) / 1000, bytes }));
  Deno.exit(0);
}

const runs = Number(flag(args, "runs", "5"));
const mib = Number(flag(args, "mib", "1024"));
const work = ensureDir(`${ROOT}/.work/bench/zstd_wasm`);
await buildZstdWasm();
const image = patternFile(`${work}/image-${mib}.img`, mib);
const text = `${work}/text-${mib}.img`;
if (!existsSync(text)) {
  using file = await Deno.open(`${text}.tmp`, { write: true, create: true, truncate: true });
  await compressible(mib * 1024 * 1024, 7).pipeTo(file.writable);
  Deno.renameSync(`${text}.tmp`, text);
}
/** The CLI's frame of `raw`, from stdin as a stream writes it. */
function zstdOf(raw: string): string {
  const out = raw.replace(/\.img$/, ".zst");
  if (existsSync(out)) return out;
  execFileSync("sh", ["-c", `zstd -q -3 -c < '${raw}' > '${out}.tmp' && mv '${out}.tmp' '${out}'`]);
  return out;
}
const artifact = otaArtifact(`${work}/image-${mib}.mender`, {
  name: "bench-zstd",
  file: image,
  compression: "zstd",
});
const node = execFileSync("node", ["-v"]).toString().trim();
const deno = Deno.execPath();
const self = new URL(import.meta.url).pathname;

const decode = (what: string, raw: string, path: string) => ({
  name: `decode ${what}, Deno, ${path === "wasm" ? "WebAssembly" : "node:zlib"}`,
  cmd: [deno, "run", "-A", self, "--decode", zstdOf(raw), path, report],
  timed: true,
});
const report = `${work}/decode.json`;
const cases: { name: string; cmd: string[]; timed?: boolean }[] = [
  decode("image", image, "wasm"),
  decode("image", image, "native"),
  decode("text", text, "wasm"),
  decode("text", text, "native"),
  {
    name: `artifact validate, ota.js on Node ${node.slice(1)} (WebAssembly)`,
    cmd: ["node", `${ROOT}/dist/ota.js`, "artifact", "validate", artifact],
  },
  {
    name: "artifact validate, dist/ota (Bun, node:zlib)",
    cmd: [`${ROOT}/dist/ota`, "artifact", "validate", artifact],
  },
];

const samples = cases.map(() => [] as Sample[]);
/** The decoding time the child measured, else the wall time. */
const own = cases.map(() => [] as number[]);
for (let run = 0; run < runs; run++) {
  for (const [i, c] of cases.entries()) {
    const s = await sample(c.cmd);
    samples[i]!.push(s);
    own[i]!.push(c.timed ? JSON.parse(readFileSync(report, "utf8")).seconds : s.seconds);
  }
}

const spread = (values: number[], digits: number) =>
  `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${
    Math.max(...values).toFixed(digits)
  })`;
const rows = cases.map((c, i) => {
  const seconds = samples[i]!.map((s) => s.seconds);
  return {
    case: c.name,
    seconds,
    mibPerSecond: own[i]!.map((s) => mib / s),
    peakMiB: samples[i]!.map((s) => s.peakMiB),
  };
});
console.log(`zstd -3, ${mib} MiB (${runs} runs; median (min-max)); ${JSON.stringify(host())}`);
console.log("| case | wall | MiB/s | peak RSS |\n| --- | ---: | ---: | ---: |");
for (const r of rows) {
  console.log(
    `| ${r.case} | ${spread(r.seconds, 2)} s | ${spread(r.mibPerSecond, 0)} | ${
      spread(r.peakMiB, 0)
    } MiB |`,
  );
}
writeFileSync(
  `${ensureDir(`${ROOT}/bench/results`)}/zstd_wasm.json`,
  `${
    JSON.stringify({ bench: "zstd_wasm", date: new Date(), host: host(), mib, runs, rows }, null, 2)
  }\n`,
);
