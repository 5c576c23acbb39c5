/**
 * Mender's save canary, checked before every read and write as Mender 3.4 checks it: an
 * environment that holds `mender_check_saveenv_canary=1` must also hold
 * `mender_saveenv_canary=1`, which U-Boot's mender_setup saves at boot. Without it,
 * userspace reads another environment than the one U-Boot writes (fw_env.config names the
 * wrong place), and writing there would switch nothing, or the wrong thing.
 */
import { fail } from "../../errors.ts";
import type { BootEnv } from "./env.ts";

export function checkCanary(env: Record<string, string>): void {
  if (env.mender_check_saveenv_canary === "1" && env.mender_saveenv_canary !== "1") {
    fail(
      "BOOTENV_MISMATCH",
      "the bootloader environment has no save canary (mender_saveenv_canary): fw_printenv " +
        "reads a different environment than U-Boot writes; check fw_env.config",
    );
  }
}

export function canaryChecked(env: BootEnv): BootEnv {
  return {
    kind: env.kind,
    async read() {
      const vars = await env.read();
      checkCanary(vars);
      return vars;
    },
    async write(vars) {
      // a read that fails here is left to the write to report, as Mender does
      const before = await env.read().catch(() => undefined);
      if (before) checkCanary(before);
      await env.write(vars);
    },
  };
}
