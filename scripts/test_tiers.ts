/**
 * The test tiers. Every *_test.ts under test/ belongs to exactly one:
 *
 *   hw     QEMU boards: test/hw/ and test/dfu/ (slow; needs qemu and the guest images).
 *   root   needs root (loop devices, mounts, namespaces), the compiled binary (dist/ota) or
 *          the real Mender tools (mender-artifact, the mender client, podman): listed below.
 *   fast   everything else: no root, nothing but loopback, no QEMU, no binary; in process.
 *
 * A new test file is fast unless it is added to a list here, so none is left out, and
 * `all` runs the three tiers in turn.
 *
 *   deno run -A scripts/test_tiers.ts fast|root|hw|all [deno test options]
 *   deno run -A scripts/test_tiers.ts --list fast|root|hw
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

export type Tier = "fast" | "root" | "hw";
export const TIERS: readonly Tier[] = ["fast", "root", "hw"];

/** Folders (ending in /) and files, relative to the repository root. */
export const HW = ["test/hw/", "test/dfu/"];
export const ROOT = [
  // the compiled binary against devices on loop images, and the real tools beside it
  "test/e2e/",
  "test/interop/",
  "test/modules/",
  // the daemon (the binary, and the real Mender client as the oracle) on managed devices
  "test/managed/daemon_test.ts",
  "test/managed/dbus_test.ts",
  "test/managed/fault_test.ts",
  "test/managed/oracle_test.ts",
  "test/managed/outage_test.ts",
  "test/managed/reboot_test.ts",
  "test/managed/stop_test.ts",
  // artifacts written by mender-artifact, checked in process and through the binary
  "test/artifact/bad_input_test.ts",
  "test/artifact/bomb_test.ts",
  "test/artifact/fuzz_test.ts",
  // the binary installs on a device made of loop images
  "test/update/module_runner_test.ts",
  "test/update/state_scripts_test.ts",
  // servers on artifacts from mender-artifact; the binary; network namespaces
  "test/peers/download_test.ts",
  "test/peers/install_test.ts",
  "test/peers/lan_test.ts",
  "test/server/binary_test.ts",
  "test/server/integrity_test.ts",
  "test/server/serve_test.ts",
];

const REPO = fileURLToPath(new URL("../", import.meta.url)).replace(/\/$/, "");

/** Every *_test.ts under test/, relative to the repository root, sorted. */
export function testFiles(dir = "test"): string[] {
  return readdirSync(`${REPO}/${dir}`).sort().flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(`${REPO}/${path}`).isDirectory()) return testFiles(path);
    return name.endsWith("_test.ts") ? [path] : [];
  });
}

const matches = (file: string, entry: string) =>
  entry.endsWith("/") ? file.startsWith(entry) : file === entry;

export function tierOf(file: string): Tier {
  if (HW.some((entry) => matches(file, entry))) return "hw";
  if (ROOT.some((entry) => matches(file, entry))) return "root";
  return "fast";
}

/** Entries in the lists that name no test file: a file was moved and its tier went with it. */
export function staleEntries(files = testFiles()): string[] {
  return [...HW, ...ROOT].filter((entry) =>
    !existsSync(`${REPO}/${entry}`) || !files.some((file) => matches(file, entry))
  );
}

export function filesOf(tier: Tier, files = testFiles()): string[] {
  return files.filter((file) => tierOf(file) === tier);
}

async function runTier(tier: Tier, options: string[]): Promise<number> {
  const files = filesOf(tier);
  console.error(`test:${tier}: ${files.length} files`);
  if (!files.length) return 0;
  const started = performance.now();
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--no-check=remote", ...options, ...files],
    cwd: REPO,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  console.error(`test:${tier}: ${code === 0 ? "passed" : "FAILED"} in ${seconds} s`);
  return code;
}

if (import.meta.main) {
  const list = Deno.args[0] === "--list";
  const [name, ...options] = list ? Deno.args.slice(1) : Deno.args;
  const stale = staleEntries();
  if (stale.length) {
    console.error(`scripts/test_tiers.ts lists what is not a test: ${stale.join(", ")}`);
    Deno.exit(1);
  }
  const chosen = name === "all" && !list ? [...TIERS] : TIERS.filter((tier) => tier === name);
  if (!chosen.length) {
    console.error("usage: test_tiers.ts [--list] fast|root|hw|all [deno test options]");
    Deno.exit(2);
  }
  if (list) {
    for (const file of filesOf(chosen[0]!)) console.log(file);
    Deno.exit(0);
  }
  let failed = 0;
  for (const tier of chosen) {
    if (await runTier(tier, options) !== 0) failed++;
  }
  Deno.exit(failed ? 1 : 0);
}
