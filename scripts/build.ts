/**
 * Builds the single binary: `bun build --compile --minify --bytecode --format=esm`, through
 * Bun's API so that one plugin can inline liblzma's WebAssembly (the binary then needs no
 * file beside it).
 *
 *   bun scripts/build.ts                      dist/ota (linux-x64) and dist/ota-linux-arm64
 *   bun scripts/build.ts --target linux-x64   only dist/ota
 *
 * Both also put the daemon's systemd units (examples/systemd/) and the D-Bus policy of
 * `mender-auth daemon` (examples/dbus/) into dist/.
 */
import { copyFileSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

declare const Bun: {
  build(options: Record<string, unknown>): Promise<{ success: boolean; logs: unknown[] }>;
};

const targets: Record<string, string> = {
  "linux-x64": "dist/ota",
  "linux-arm64": "dist/ota-linux-arm64",
};

const args = process.argv.slice(2);
const only = args.includes("--target") ? args[args.indexOf("--target") + 1] : undefined;
if (only && !targets[only]) {
  console.error(`unknown target ${only}; use one of ${Object.keys(targets).join(", ")}`);
  process.exit(1);
}

const wasm = readFileSync(createRequire(import.meta.url).resolve("node-liblzma/wasm/liblzma.wasm"));
const inlineWasm = {
  name: "inline-liblzma-wasm",
  setup(
    build: { onLoad(o: { filter: RegExp }, f: () => { contents: string; loader: string }): void },
  ) {
    build.onLoad({ filter: /src\/artifact\/liblzma_wasm\.ts$/ }, () => ({
      contents: `const b64 = ${JSON.stringify(wasm.toString("base64"))};
export function liblzmaWasm() { return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)); }`,
      loader: "ts",
    }));
  },
};

for (const [target, outfile] of Object.entries(targets)) {
  if (only && target !== only) continue;
  const started = performance.now();
  const result = await Bun.build({
    entrypoints: ["bin/ota.ts"],
    // --smol: a smaller heap, collected more often; memory must stay flat on small devices
    compile: { target: `bun-${target}`, outfile, execArgv: ["--smol"] },
    minify: true,
    bytecode: true,
    format: "esm",
    plugins: [inlineWasm],
  });
  if (!result.success) {
    console.error(result.logs);
    process.exit(1);
  }
  console.log(
    `built ${outfile} (${target}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

// The systemd unit that starts the daemon at boot ships next to the binary.
copyFileSync("examples/systemd/ota.service", "dist/ota.service");
copyFileSync("examples/systemd/ota-auth.service", "dist/ota-auth.service");
copyFileSync(
  "examples/dbus/io.mender.AuthenticationManager.conf",
  "dist/io.mender.AuthenticationManager.conf",
);
