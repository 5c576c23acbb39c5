/**
 * U-Boot's environment through the real fw_printenv / fw_setenv (libubootenv or U-Boot's
 * own tools). All changes go in one `fw_setenv -s -` call: one write of the environment,
 * atomic when the environment is redundant.
 */
import type { Config } from "../../device/config.ts";
import { runTool } from "../../process.ts";
import { type BootEnv, parseEnvLines, TOOL_TIMEOUT_MS } from "./env.ts";

export function ubootEnv(config: Config, timeoutMs = TOOL_TIMEOUT_MS): BootEnv {
  const configArgs = config.FwEnvConfig ? ["-c", config.FwEnvConfig] : [];
  return {
    kind: "uboot",
    async read() {
      return parseEnvLines(
        await runTool("BOOTENV_READ", config.FwPrintenv, configArgs, { timeoutMs }),
      );
    },
    async write(vars) {
      // `name=value` is what libubootenv accepts; an empty value removes the variable.
      const script = Object.entries(vars).map(([name, value]) => `${name}=${value ?? ""}\n`).join(
        "",
      );
      await runTool("BOOTENV_WRITE", config.FwSetenv, [...configArgs, "-s", "-"], {
        stdin: script,
        timeoutMs,
      });
    },
  };
}
