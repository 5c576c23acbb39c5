/** Test helpers: temporary directories, running commands, the compiled binary. */
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
export const BINARY = `${ROOT}/dist/ota`;
export const BINARY_ARM64 = `${ROOT}/dist/ota-linux-arm64`;
export const BINARY_ARMV7 = `${ROOT}/dist/ota-linux-armv7`;
export const SCRIPT = `${ROOT}/dist/ota.js`;

/**
 * The build that `ota()` runs, chosen with OTA_TEST_BUILD: `x64` (dist/ota, the default),
 * `arm64` and `armv7` under qemu-user (no binfmt_misc needed: the emulator is named here),
 * `js` (dist/ota.js on OTA_TEST_NODE, else the `node` in PATH).
 */
export const BUILD = Deno.env.get("OTA_TEST_BUILD") ?? "x64";
const builds: Record<string, string[]> = {
  x64: [BINARY],
  arm64: ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu", BINARY_ARM64],
  armv7: ["qemu-arm-static", "-L", "/usr/arm-linux-gnueabihf", BINARY_ARMV7],
  js: [Deno.env.get("OTA_TEST_NODE") ?? "node", SCRIPT],
};
if (!builds[BUILD]) {
  throw new Error(`OTA_TEST_BUILD=${BUILD}: use ${Object.keys(builds).join(", ")}`);
}
/** The command line that runs the build under test, before its arguments. */
export const OTA_COMMAND: string[] = builds[BUILD]!;
/** The file the build under test ships as (what install-modules writes into its shims). */
export const OTA_FILE = OTA_COMMAND.at(-1)!;

let wrapper: string | undefined;
/**
 * One executable path that runs the build under test, for what execs ota by path (OTA_BIN of
 * the module shims): the binary itself, or a shell script around the emulator or node.
 */
export function otaExecutable(): string {
  if (OTA_COMMAND.length === 1) return OTA_COMMAND[0]!;
  if (!wrapper) {
    const dir = Deno.makeTempDirSync({ prefix: "ota-build-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    wrapper = `${dir}/ota`;
    const quoted = OTA_COMMAND.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
    Deno.writeTextFileSync(wrapper, `#!/bin/sh\nexec ${quoted} "$@"\n`, { mode: 0o755 });
  }
  return wrapper;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws on a non-zero exit. */
export async function run(
  cmd: string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: Uint8Array | string } = {},
): Promise<RunResult> {
  if (cmd[0] === undefined) throw new Error("an empty command line");
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
    await writer.close();
  }
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** Runs a command and fails the test with its output when it does not exit 0. */
export async function sh(cmd: string[], options: Parameters<typeof run>[1] = {}): Promise<string> {
  const result = await run(cmd, options);
  if (result.code !== 0) {
    throw new Error(`${cmd.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

/** The build under test (OTA_TEST_BUILD, dist/ota by default): the e2e tests run what ships. */
export function ota(args: string[], options: Parameters<typeof run>[1] = {}): Promise<RunResult> {
  return run([...OTA_COMMAND, ...args], options);
}

/** A fresh temporary directory, removed when the returned disposable is disposed. */
export async function tempDir(prefix = "ota-test-"): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export async function sha256File(path: string): Promise<string> {
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

export function hasCommand(name: string): boolean {
  try {
    return new Deno.Command("sh", {
      args: ["-c", `command -v ${name}`],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().code === 0;
  } catch {
    return false;
  }
}
