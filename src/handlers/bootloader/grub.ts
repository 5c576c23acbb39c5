/**
 * GRUB's environment as grub-mender-grubenv keeps it, edited with grub-editenv where that
 * package's own tools are not installed: two copies, `mender_grubenv1/env` and
 * `mender_grubenv2/env`, each with a `lock` file (`editing=1` while the copy is written)
 * and, from that package's installer, `lock.sha256sum` over the lock. Done as its
 * grub-mender-grubenv-set does, under its lock file:
 *   - a copy is whole when its lock says editing=0 and matches its checksum (if it has one);
 *     reading takes copy 1 if whole, else copy 2 (GRUB's boot script reads alike);
 *   - before a write, a broken copy is restored from the whole one;
 *   - copy 2 is written first, then copy 1, each as lock editing=1, env, lock editing=0,
 *     every file synced before the next step: a cut leaves one whole copy, and GRUB's
 *     script and the tool repair the other from it.
 */
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import type { Config } from "../../device/config.ts";
import { fail } from "../../errors.ts";
import { readTextIfExists } from "../../files.ts";
import { runTool } from "../../process.ts";
import { type BootEnv, parseEnvLines, TOOL_TIMEOUT_MS } from "./env.ts";
import { withFileLock } from "./file_lock.ts";

/** The lock grub-mender-grubenv-print and -set take. */
export const GRUBENV_LOCK = "/var/lock/grub-mender-grubenv-set.lock";

export interface GrubFileOptions {
  /** Default GRUBENV_LOCK. */
  lockFile?: string;
  /** How long to wait for it (default 5 s; the tools wait 1 s). */
  lockWaitMs?: number;
  /** Makes a file's data durable (fsync by default). */
  sync?: (path: string) => Promise<void>;
  debug?: (message: string) => void;
}

async function fsyncFile(path: string): Promise<void> {
  const handle = await fs.open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export function grubEnv(
  config: Config,
  dir: string,
  timeoutMs = TOOL_TIMEOUT_MS,
  options: GrubFileOptions = {},
): BootEnv {
  const tool = config.GrubEditenv;
  const sync = options.sync ?? fsyncFile;
  const list = async (file: string) =>
    parseEnvLines(await runTool("BOOTENV_READ", tool, [file, "list"], { timeoutMs }));
  const edit = async (file: string, args: string[]) => {
    await runTool("BOOTENV_WRITE", tool, [file, ...args], { timeoutMs });
    await sync(file);
  };
  const copies = ([1, 2] as const).map((n) => ({
    n,
    env: `${dir}/mender_grubenv${n}/env`,
    lock: `${dir}/mender_grubenv${n}/lock`,
    sum: `${dir}/mender_grubenv${n}/lock.sha256sum`,
  }));
  type Copy = typeof copies[number];
  const [one, two] = copies as [Copy, Copy];
  const locked = <T>(fn: () => Promise<T>) =>
    withFileLock(options.lockFile ?? GRUBENV_LOCK, fn, options.lockWaitMs ?? 5000, options.debug);

  async function whole(copy: Copy): Promise<boolean> {
    const lock = await list(copy.lock).catch(() => undefined);
    if (lock?.editing !== "0") return false;
    const sum = await readTextIfExists(copy.sum).catch(() => "");
    if (sum === undefined) return true;
    return sum.trim().split(/\s+/)[0] === sha256(await fs.readFile(copy.lock));
  }

  async function restore(from: Copy, to: Copy): Promise<void> {
    options.debug?.(`GRUB environment copy ${to.n} is broken: restoring it from copy ${from.n}`);
    await fs.writeFile(to.env, await fs.readFile(from.env));
    await sync(to.env);
    await edit(to.lock, ["create"]);
    await edit(to.lock, ["set", "editing=0"]);
    if ((await readTextIfExists(from.sum)) !== undefined) {
      await fs.writeFile(to.sum, `${sha256(await fs.readFile(to.lock))}  lock\n`);
      await sync(to.sum);
    }
  }

  return {
    kind: "grub",
    read: () =>
      locked(async () => {
        for (const copy of copies) {
          if (await whole(copy)) return await list(copy.env);
        }
        fail("BOOTENV_READ", `both GRUB environment copies in ${dir} are marked as being edited`);
      }),
    write: (vars) =>
      locked(async () => {
        const [oneWhole, twoWhole] = [await whole(one), await whole(two)];
        if (!oneWhole && !twoWhole) {
          fail("BOOTENV_WRITE", `both GRUB environment copies in ${dir} are broken`);
        }
        if (!oneWhole) await restore(two, one);
        else if (!twoWhole) await restore(one, two);
        const set = Object.entries(vars).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`);
        const unset = Object.entries(vars).filter(([, v]) => v === null).map(([k]) => k);
        for (const copy of [two, one]) {
          await edit(copy.lock, ["set", "editing=1"]);
          if (set.length) await edit(copy.env, ["set", ...set]);
          if (unset.length) await edit(copy.env, ["unset", ...unset]);
          await edit(copy.lock, ["set", "editing=0"]);
          if (!(await whole(copy))) {
            fail(
              "BOOTENV_WRITE",
              `GRUB environment copy ${copy.n} in ${dir} is broken after the write`,
            );
          }
        }
      }),
  };
}
