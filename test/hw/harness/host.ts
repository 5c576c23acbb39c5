/**
 * Host-side plumbing for the emulated boards: where things are cached, running tools, and
 * the Debian packages the guest is assembled from (fetched with `apt-get download`, never
 * installed on the host).
 */
import { fileURLToPath } from "node:url";

export const HW_DIR = fileURLToPath(new URL("../", import.meta.url)).replace(/\/$/, "");
export const ROOT = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");

/** Downloaded packages and built images survive between runs here (OTA_HW_CACHE overrides). */
export const CACHE_DIR = Deno.env.get("OTA_HW_CACHE") ??
  `${Deno.env.get("HOME") ?? "/root"}/.cache/ota-hw`;

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(
  cmd: string[],
  options: { cwd?: string; stdin?: string; env?: Record<string, string> } = {},
): Promise<Output> {
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
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Runs a tool and throws with its output when it fails. */
export async function sh(cmd: string[], options: Parameters<typeof run>[1] = {}): Promise<string> {
  const out = await run(cmd, options);
  if (out.code !== 0) {
    throw new Error(`${cmd.join(" ")} exited ${out.code}\n${out.stdout}${out.stderr}`);
  }
  return out.stdout;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The host tools the boards need; the message names the package that brings each. */
const TOOLS: Record<string, string> = {
  "qemu-system-x86_64": "qemu-system-x86",
  "mkfs.ext4": "e2fsprogs",
  "mkfs.vfat": "dosfstools",
  "mcopy": "mtools",
  "sfdisk": "fdisk",
  "mkimage": "u-boot-tools",
  "grub-mkimage": "grub-common",
  "grub-editenv": "grub-common",
  "fw_printenv": "libubootenv-tool",
  "cpio": "cpio",
  "apt-get": "apt",
  "dpkg-deb": "dpkg",
};
const FILES: Record<string, string> = {
  "/usr/lib/u-boot/qemu-x86/u-boot.rom": "u-boot-qemu",
  "/usr/lib/grub/i386-pc/boot.img": "grub-pc-bin",
  // carries the managed boards' connections to the test's server (network.ts)
  "/usr/bin/python3": "python3",
};

/** Names what is missing (and which package to install), or returns undefined. */
export async function missingHostTools(): Promise<string | undefined> {
  const missing: string[] = [];
  for (const [tool, pkg] of Object.entries(TOOLS)) {
    const found = await run(["sh", "-c", `command -v ${tool}`]).catch(() => ({ code: 1 }));
    if (found.code !== 0) missing.push(`${tool} (${pkg})`);
  }
  for (const [file, pkg] of Object.entries(FILES)) {
    if (!await exists(file)) missing.push(`${file} (${pkg})`);
  }
  return missing.length ? `missing: ${missing.join(", ")}; run scripts/install-deps.sh` : undefined;
}
