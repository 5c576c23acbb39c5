/**
 * Where Mender looks by default, for every command that reads the device: /etc/mender for the
 * configuration and /var/lib/mender for the data, moved by MENDER_CONF_DIR / MENDER_DATA_DIR
 * as in Mender 4; `--config`, `--fallback-config` and `--data` override them.
 */
import process from "node:process";

export interface DeviceLocations {
  config: string;
  fallbackConfig: string;
  data: string;
}

export function deviceDefaults(
  env: Record<string, string | undefined> = process.env,
): DeviceLocations {
  const confDir = env.MENDER_CONF_DIR ?? "/etc/mender";
  const dataDir = env.MENDER_DATA_DIR ?? "/var/lib/mender";
  return {
    config: `${confDir}/mender.conf`,
    fallbackConfig: `${dataDir}/mender.conf`,
    data: dataDir,
  };
}
