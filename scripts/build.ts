/**
 * Builds what ships:
 * - `dist/ota` (linux-x64) and `dist/ota-linux-arm64`: `bun build --compile --minify --bytecode
 *   --format=esm`, through Bun's API so that plugins can inline liblzma's WebAssembly (the
 *   binary then needs no file beside it);
 * - `dist/ota.js`: the same program as one CommonJS file for a device that has Node, and
 *   `dist/ota-linux-armv7`, that file as a Node single executable (scripts/build_node.ts).
 *   Both also inline zstd's WebAssembly (scripts/zstd_wasm.ts), for a Node whose node:zlib has
 *   no zstd; Bun's has it, so the Bun builds leave it out.
 *
 *   bun scripts/build.ts                      all four
 *   bun scripts/build.ts --target linux-x64   only dist/ota (also: linux-arm64, linux-armv7, js)
 *
 * Each also puts the daemon's systemd units (examples/systemd/) and the D-Bus policy of
 * `mender-auth daemon` (examples/dbus/) into dist/.
 */
import { Buffer } from "node:buffer";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { gzipSync } from "node:zlib";
import { writeArmv7Sea, writeScript } from "./build_node.ts";
import { buildZstdWasm } from "./zstd_wasm.ts";

interface BuildOutput {
  text(): Promise<string>;
}

declare const Bun: {
  build(
    options: Record<string, unknown>,
  ): Promise<{ success: boolean; logs: unknown[]; outputs: BuildOutput[] }>;
};

const bunTargets: Record<string, string> = {
  "linux-x64": "dist/ota",
  "linux-arm64": "dist/ota-linux-arm64",
};
const nodeTargets = { "js": "dist/ota.js", "linux-armv7": "dist/ota-linux-armv7" };
const all: Record<string, string> = { ...bunTargets, ...nodeTargets };

const args = process.argv.slice(2);
const only = args.includes("--target") ? args[args.indexOf("--target") + 1] : undefined;
if (only && !all[only]) {
  console.error(`unknown target ${only}; use one of ${Object.keys(all).join(", ")}`);
  process.exit(1);
}
const wanted = (target: string) => !only || target === only;
mkdirSync("dist", { recursive: true });

interface PluginBuild {
  onLoad(o: { filter: RegExp }, f: () => { contents: string; loader: string }): void;
}

/** A plugin that replaces the module `file` (under src/artifact) with `contents`. */
function replace(file: string, contents: string) {
  const filter = new RegExp(`src/artifact/${file.replace(".", "\\.")}$`);
  return {
    name: `replace-${file}`,
    setup: (build: PluginBuild) => build.onLoad({ filter }, () => ({ contents, loader: "ts" })),
  };
}

/** A module whose function `name` returns `bytes`, inlined as base64. */
function inlined(name: string, bytes: Uint8Array): string {
  return `const b64 = ${JSON.stringify(Buffer.from(bytes).toString("base64"))};
export function ${name}() { return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)); }`;
}

/**
 * The same, gzipped first: a quarter of the size, and of the source string Node keeps in memory
 * from the start (zstd's 460 KB: 3.2 MiB more idle RSS for ota.js on Node 20 as plain base64).
 */
function inlinedGzip(name: string, bytes: Uint8Array): string {
  return `import { gunzipSync } from "node:zlib";
const b64 = ${JSON.stringify(gzipSync(bytes, { level: 9 }).toString("base64"))};
export function ${name}() { return new Uint8Array(gunzipSync(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)))); }`;
}

const liblzma = readFileSync(
  createRequire(import.meta.url).resolve("node-liblzma/wasm/liblzma.wasm"),
);
const inlineLiblzma = replace("liblzma_wasm.ts", inlined("liblzmaWasm", liblzma));
// Never called there: Bun's node:zlib has zstd.
const noZstdWasm = replace(
  "zstd_wasm_binary.ts",
  `export function zstdWasmBinary(): Uint8Array { throw new Error("no zstd WebAssembly in this build"); }`,
);

async function build(options: Record<string, unknown>, plugins: unknown[]) {
  const result = await Bun.build({
    entrypoints: ["bin/ota.ts"],
    minify: true,
    plugins: [inlineLiblzma, ...plugins],
    ...options,
  });
  if (!result.success) {
    console.error(result.logs);
    process.exit(1);
  }
  return result;
}

function done(outfile: string, target: string, started: number) {
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`built ${outfile} (${target}) in ${seconds} s`);
}

for (const [target, outfile] of Object.entries(bunTargets)) {
  if (!wanted(target)) continue;
  const started = performance.now();
  await build({
    // --smol: a smaller heap, collected more often; memory must stay flat on small devices
    compile: { target: `bun-${target}`, outfile, execArgv: ["--smol"] },
    bytecode: true,
    format: "esm",
  }, [noZstdWasm]);
  done(outfile, target, started);
}

if (Object.keys(nodeTargets).some(wanted)) {
  const started = performance.now();
  // Node 20's single executables run one CommonJS script, so both Node builds are CommonJS.
  const zstd = readFileSync(await buildZstdWasm());
  const inlineZstd = replace("zstd_wasm_binary.ts", inlinedGzip("zstdWasmBinary", zstd));
  const result = await build({ target: "node", format: "cjs" }, [inlineZstd]);
  const output = result.outputs[0];
  if (!output) throw new Error("the Node bundle has no output");
  const bundle = await output.text();
  if (wanted("js")) {
    writeScript(bundle, nodeTargets.js);
    done(nodeTargets.js, "js", started);
  }
  if (wanted("linux-armv7")) {
    await writeArmv7Sea(bundle, nodeTargets["linux-armv7"]);
    done(nodeTargets["linux-armv7"], "linux-armv7", started);
  }
}

// The systemd units, and the bus policy of mender-auth daemon, ship next to the binaries.
copyFileSync("examples/systemd/ota.service", "dist/ota.service");
copyFileSync("examples/systemd/ota-auth.service", "dist/ota-auth.service");
copyFileSync(
  "examples/dbus/io.mender.AuthenticationManager.conf",
  "dist/io.mender.AuthenticationManager.conf",
);
