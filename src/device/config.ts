/**
 * mender.conf-compatible configuration, validated with zod. Mender's keys keep their
 * names and defaults; the few ota-only keys (bootloader tools, directories) are ignored by
 * Mender's client, so one file can serve both. A file is read as Mender 3.4 reads it
 * (loadConfig): what Mender takes, ota takes, and keys added here get those rules as well.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { fail } from "../errors.ts";
import { DEFAULT_LIMITS, type TransferLimits } from "../http/limits.ts";
import { decodeFile, type Shape, unsetZeroValues } from "./go_decode.ts";
import { parseGoJson } from "./go_json.ts";

/** A `...Seconds` key of 0 or less in the file means its default (see unsetZeroValues). */
const seconds = z.number().int().positive();

/** Managed mode's keys (`ota daemon`), with Mender's names and defaults (5.x where 3.4 differs). */
const managedKeys = {
  ServerURL: z.string().min(1).optional(),
  Servers: z.array(z.object({ ServerURL: z.string().min(1) }).passthrough()).optional(),
  TenantToken: z.string().default(""),
  UpdatePollIntervalSeconds: seconds.default(1800),
  InventoryPollIntervalSeconds: seconds.default(28800),
  RetryPollIntervalSeconds: seconds.default(300),
  /** 0: no limit on tries (the backoff still gives up after three at the longest interval). */
  RetryPollCount: z.number().int().min(0).default(0),
  HttpsClient: z.object({
    Certificate: z.string().min(1).optional(),
    Key: z.string().min(1).optional(),
  }).passthrough().optional(),
  Security: z.object({ AuthPrivateKey: z.string().min(1).optional() }).passthrough().optional(),
  /** ota: the key made on first start when there is none (RSA 3072 as Mender 3.x/4.x). */
  DeviceKeyType: z.enum(["rsa", "ecdsa", "ed25519"]).default("rsa"),
  /** ota: what the daemon runs when an update needs a reboot. */
  RebootCommand: z.string().min(1).default("reboot"),
  /** ota: Mender's identity script and inventory scripts directory. */
  IdentityScript: z.string().default("/usr/share/mender/identity/mender-device-identity"),
  InventoryScriptsDir: z.string().default("/usr/share/mender/inventory"),
};

export const configSchema = z.object({
  RootfsPartA: z.string().min(1).optional(),
  RootfsPartB: z.string().min(1).optional(),
  DeviceTypeFile: z.string().min(1).optional(),
  ArtifactVerifyKey: z.string().min(1).optional(),
  ArtifactVerifyKeys: z.array(z.string().min(1)).optional(),
  ModuleTimeoutSeconds: seconds.default(14400),
  StateScriptTimeoutSeconds: seconds.default(3600),
  StateScriptRetryTimeoutSeconds: seconds.default(1800),
  StateScriptRetryIntervalSeconds: seconds.default(60),
  ServerCertificate: z.string().min(1).optional(),
  SkipVerify: z.boolean().default(false),
  UpdateLogPath: z.string().min(1).optional(),
  RetryDownloadCount: z.number().int().min(0).max(10000).default(10),
  /** ota: longest pause between download retries (Mender caps its backoff likewise). */
  RetryDownloadMaxIntervalSeconds: seconds.default(60),
  /** ota: a download that delivers nothing for this long is retried. */
  DownloadIdleTimeoutSeconds: seconds.default(DEFAULT_LIMITS.idleTimeoutMs / 1000),
  /**
   * ota: a download slower than this on average over DownloadMinRateWindowSeconds is
   * abandoned and resumed, so a server that trickles a byte a second ends in an error
   * (curl's --speed-limit with --speed-time). 0 turns the rule off. Default 1024, over 60 s.
   */
  DownloadMinRateBytesPerSecond: z.number().int().min(0).default(DEFAULT_LIMITS.minBytesPerSecond),
  DownloadMinRateWindowSeconds: seconds.default(DEFAULT_LIMITS.rateWindowMs / 1000),
  /** ota: which bootloader environment to drive; "auto": GRUB's where one is found, else U-Boot's. */
  Bootloader: z.enum(["auto", "uboot", "grub"]).default("auto"),
  /** ota: U-Boot tools and their config (`-c`), default from PATH and /etc/fw_env.config. */
  FwPrintenv: z.string().default("fw_printenv"),
  FwSetenv: z.string().default("fw_setenv"),
  FwEnvConfig: z.string().optional(),
  /** ota: grub-editenv and the grub-mender-grubenv directory (holding mender_grubenv1/2). */
  GrubEditenv: z.string().default("grub-editenv"),
  GrubEnvDir: z.string().optional(),
  /** ota: grub-mender-grubenv's config (its ENV_DIR), default /etc/mender_grubenv.config. */
  GrubEnvConfig: z.string().optional(),
  /** ota: rootfs state scripts, Update Modules and the artifact_info fallback. */
  ScriptsDir: z.string().default("/etc/mender/scripts"),
  ModulesDir: z.string().default("/usr/share/mender/modules/v3"),
  ArtifactInfoFile: z.string().default("/etc/mender/artifact_info"),
  /** ota: fetch only the changed blocks of an adaptive rootfs-image artifact over HTTP. */
  AdaptiveUpdates: z.boolean().default(true),
  /**
   * ota: where adaptive updates read slot A's (B's) bytes when not from RootfsPartA (B)
   * itself: a read-only view of the partition, or the image behind a simulated board.
   */
  AdaptiveReadPartA: z.string().min(1).optional(),
  AdaptiveReadPartB: z.string().min(1).optional(),
  ...managedKeys,
}).passthrough().superRefine((config, ctx) => {
  if (config.ArtifactVerifyKey && config.ArtifactVerifyKeys?.length) {
    ctx.addIssue({
      code: "custom",
      message: "set ArtifactVerifyKey or ArtifactVerifyKeys, not both",
    });
  }
});

export type Config = z.infer<typeof configSchema>;

export interface Paths {
  /** The data directory (`--data`, Mender's /var/lib/mender). */
  dataDir: string;
  deviceTypeFile: string;
  /** Mender's name of the installed artifact before the first update. */
  artifactInfoFile: string;
  updateLogDir: string;
}

export function resolvePaths(config: Config, dataDir: string): Paths {
  return {
    dataDir,
    deviceTypeFile: config.DeviceTypeFile ?? `${dataDir}/device_type`,
    artifactInfoFile: config.ArtifactInfoFile,
    updateLogDir: config.UpdateLogPath ?? dataDir,
  };
}

/** What each HTTP response of a download must keep up (src/http/limits.ts). */
export function transferLimits(config: Config): TransferLimits {
  return {
    idleTimeoutMs: config.DownloadIdleTimeoutSeconds * 1000,
    minBytesPerSecond: config.DownloadMinRateBytesPerSecond,
    rateWindowMs: config.DownloadMinRateWindowSeconds * 1000,
  };
}

/** The servers to talk to, in order: `Servers`, else `ServerURL`; no trailing slash. */
export function serverUrls(config: Config): string[] {
  const urls = config.Servers?.length
    ? config.Servers.map((s) => s.ServerURL)
    : config.ServerURL
    ? [config.ServerURL]
    : [];
  return urls.map((url) => (/^https?:\/\//.test(url) ? url : `https://${url}`).replace(/\/+$/, ""));
}

export function verifyKeyPaths(config: Config): string[] {
  return config.ArtifactVerifyKeys ?? (config.ArtifactVerifyKey ? [config.ArtifactVerifyKey] : []);
}

async function readIfPresent(path: string | undefined): Promise<string | undefined> {
  if (!path) return undefined;
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    fail("CONFIG_INVALID", `cannot read ${path}: ${(error as Error).message}`);
  }
}

/** The schema as JSON Schema: the shape the Go-style decoder fills (src/device/go_decode.ts). */
let shape: Shape | undefined;
function configShape(): Shape {
  return shape ??= z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as Shape;
}

/**
 * Loads the configuration as Mender 3.4 does: the fallback file first, the main file over
 * it, each decoded as Go's encoding/json fills Mender's struct (go_decode.ts: keys in any
 * case, the last repeat wins, unknown keys ignored, a wrong type refused), then `""` and
 * `0` seconds taken as not set. Missing files are fine; a file that exists must be valid.
 * `debug` hears of each key ignored or taken as not set.
 */
export async function loadConfig(
  main?: string,
  fallback?: string,
  debug: (message: string) => void = () => {},
): Promise<Config> {
  const root = configShape();
  let merged: Record<string, unknown> = {};
  for (const path of [fallback, main]) {
    const text = await readIfPresent(path);
    if (text === undefined) continue;
    merged = decodeFile(merged, parseGoJson(text, path!), {
      source: path!,
      root,
      onUnknown: (key) => debug(`${path}: ignoring ${key}, a key ota does not know`),
    });
  }
  unsetZeroValues(merged, root, root, (key, note) => debug(`configuration: ${key} ${note}`));
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!; // a failed parse has at least one issue
    const key = issue.path.join(".");
    fail("CONFIG_INVALID", `configuration ${main ?? ""}: ${key ? `${key}: ` : ""}${issue.message}`);
  }
  return result.data;
}
