/**
 * U-Boot's environment through the real fw_printenv / fw_setenv (libubootenv or U-Boot's
 * own tools), with the separator Mender probes (script_env.ts).
 */
import type { Config } from "../../device/config.ts";
import { type BootEnv, TOOL_TIMEOUT_MS } from "./env.ts";
import { scriptEnv } from "./script_env.ts";

export function ubootEnv(config: Config, timeoutMs = TOOL_TIMEOUT_MS): BootEnv {
  return scriptEnv({
    kind: "uboot",
    print: config.FwPrintenv,
    set: config.FwSetenv,
    args: config.FwEnvConfig ? ["-c", config.FwEnvConfig] : [],
    timeoutMs,
  });
}
