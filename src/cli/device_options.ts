/**
 * Where a command finds the device: `--config`, `--fallback-config` and `--data`, with
 * Mender's defaults (MENDER_CONF_DIR / MENDER_DATA_DIR), the same for every command that
 * reads it: install, commit, rollback, resume, show-*, peers.
 */
import type { Command } from "commander";
import { type Config, loadConfig, type Paths, resolvePaths } from "../device/config.ts";
import { deviceDefaults, type DeviceLocations } from "../device/defaults.ts";

export function addLocationOptions(command: Command): Command {
  const d = deviceDefaults();
  return command
    .option("-c, --config <file>", "configuration file (mender.conf)", d.config)
    .option("-b, --fallback-config <file>", "fallback configuration file", d.fallbackConfig)
    .option("-d, --data <dir>", "data directory: state, logs, module work trees", d.data);
}

/** The configuration and the paths of the device the options name; `debug` hears of ignored keys. */
export async function locate(
  o: DeviceLocations,
  debug?: (message: string) => void,
): Promise<{ config: Config; paths: Paths }> {
  const config = await loadConfig(o.config, o.fallbackConfig, debug);
  return { config, paths: resolvePaths(config, o.data) };
}
