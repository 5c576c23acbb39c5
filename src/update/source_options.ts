/** How sources are opened: Mender's retry count, ota's backoff cap and transfer limits, TLS trust. */
import { promises as fs } from "node:fs";
import { type Config, transferLimits } from "../device/config.ts";
import { fail } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { SourceOptions } from "./source.ts";

export async function sourceOptions(config: Config, log: Logger): Promise<SourceOptions> {
  const ca = config.ServerCertificate
    ? await fs.readFile(config.ServerCertificate, "utf8").catch(() => {
      fail(
        "CONFIG_INVALID",
        `cannot read ServerCertificate ${config.ServerCertificate}; fix the path in the configuration`,
      );
    })
    : undefined;
  return {
    log,
    retries: config.RetryDownloadCount,
    maxIntervalMs: config.RetryDownloadMaxIntervalSeconds * 1000,
    limits: transferLimits(config),
    ca,
    insecure: config.SkipVerify,
  };
}
