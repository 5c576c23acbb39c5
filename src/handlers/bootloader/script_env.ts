/**
 * An environment behind a pair of fw_printenv / fw_setenv style tools: U-Boot's (libubootenv
 * or U-Boot's own) and grub-mender-grubenv's. All changes go in one `-s -` script, one write
 * of the environment (atomic when it is redundant).
 *
 * The script's separator is probed as Mender does: `mender_uboot_separator 1` is written
 * with a space; if it reads back as 1, the tool takes `name value` lines (U-Boot's own
 * tools; the probe is removed again), else `name=value` (libubootenv ignores the space
 * line). A probe variable left behind (a cut after the probe) would fool that test, so it
 * is removed first and the way that removes it is the separator. After the write the
 * environment is read back: a script the tool took but did not apply is an error, not a
 * silent no-op.
 */
import { fail, OtaError } from "../../errors.ts";
import { runTool } from "../../process.ts";
import { type BootEnv, parseEnvLines } from "./env.ts";

export const PROBE = "mender_uboot_separator";

export interface EnvTools {
  kind: BootEnv["kind"];
  print: string;
  set: string;
  /** Arguments before the others (`-c FILE`). */
  args: string[];
  timeoutMs: number;
}

/** grub-mender-grubenv's tools wait 1 s for their lock, then fail with this. */
const LOCK_BUSY = "can't acquire flock";
const LOCK_RETRIES = 10;

export function scriptEnv(tools: EnvTools): BootEnv {
  const run = async (writes: boolean, args: string[], stdin?: string): Promise<string> => {
    const [code, command] = writes
      ? ["BOOTENV_WRITE" as const, tools.set]
      : ["BOOTENV_READ" as const, tools.print];
    for (let attempt = 1;; attempt++) {
      try {
        return await runTool(code, command, [...tools.args, ...args], {
          stdin,
          timeoutMs: tools.timeoutMs,
        });
      } catch (error) {
        const busy = error instanceof OtaError && error.message.includes(LOCK_BUSY);
        if (!busy || attempt >= LOCK_RETRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  };
  const read = async () => parseEnvLines(await run(false, []));
  const script = (lines: string[]) => run(true, ["-s", "-"], lines.join(""));

  async function separator(): Promise<" " | "="> {
    // a failed read is left to the writes below to report, as Mender does
    const before = await read().catch(() => ({} as Record<string, string>));
    if (before[PROBE] !== undefined) {
      for (const sep of ["=", " "] as const) {
        await script([`${PROBE}${sep}\n`]).catch(() => {});
        if ((await read())[PROBE] === undefined) return sep;
      }
      fail("BOOTENV_WRITE", `${tools.set} cannot remove ${PROBE}, with either separator`);
    }
    await script([`${PROBE} 1\n`]);
    if ((await read())[PROBE] !== "1") return "=";
    await script([`${PROBE} \n`]);
    return " ";
  }

  return {
    kind: tools.kind,
    read,
    async write(vars) {
      const sep = await separator();
      await script(Object.entries(vars).map(([name, value]) => `${name}${sep}${value ?? ""}\n`));
      const after = await read();
      const wrong = Object.entries(vars).filter(([name, value]) =>
        (after[name] ?? null) !== (value === "" ? null : value)
      );
      if (wrong.length) {
        fail(
          "BOOTENV_WRITE",
          `${tools.set} took the script but the environment does not hold ${
            wrong.map(([name, value]) => `${name}=${value ?? ""}`).join(" ")
          } (it reads ${wrong.map(([name]) => `${name}=${after[name] ?? ""}`).join(" ")})`,
        );
      }
    },
  };
}
