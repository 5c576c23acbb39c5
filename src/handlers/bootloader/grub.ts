/**
 * GRUB's environment as grub-mender-grubenv keeps it: two copies, `mender_grubenv1/env` and
 * `mender_grubenv2/env`, each with a `lock` file whose `editing=1` marks a copy being
 * written. Writing marks, writes and unmarks one copy, then the other, so a power cut
 * always leaves one whole copy; reading takes the first copy that is not marked.
 */
import type { Config } from "../../device/config.ts";
import { fail } from "../../errors.ts";
import { runTool } from "../../process.ts";
import { type BootEnv, parseEnvLines, TOOL_TIMEOUT_MS } from "./env.ts";

export function grubEnv(config: Config, dir: string, timeoutMs = TOOL_TIMEOUT_MS): BootEnv {
  const tool = config.GrubEditenv;
  const list = async (file: string) =>
    parseEnvLines(await runTool("BOOTENV_READ", tool, [file, "list"], { timeoutMs }));
  const edit = (file: string, args: string[]) =>
    runTool("BOOTENV_WRITE", tool, [file, ...args], { timeoutMs });
  const copies = [1, 2].map((n) => ({
    env: `${dir}/mender_grubenv${n}/env`,
    lock: `${dir}/mender_grubenv${n}/lock`,
  }));

  return {
    kind: "grub",
    async read() {
      for (const copy of copies) {
        const lock = await list(copy.lock).catch(
          () => ({ editing: "1" } as Record<string, string>),
        );
        if (lock.editing !== "1") return await list(copy.env);
      }
      fail("BOOTENV_READ", `both GRUB environment copies in ${dir} are marked as being edited`);
    },
    async write(vars) {
      const set = Object.entries(vars).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`);
      const unset = Object.entries(vars).filter(([, v]) => v === null).map(([k]) => k);
      for (const copy of copies) {
        await edit(copy.lock, ["set", "editing=1"]);
        if (set.length) await edit(copy.env, ["set", ...set]);
        if (unset.length) await edit(copy.env, ["unset", ...unset]);
        await edit(copy.lock, ["set", "editing=0"]);
      }
    },
  };
}
