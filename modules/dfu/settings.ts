/**
 * What the dfu module needs to know: the board (from the artifact's meta-data and
 * provides) and the gateway (dfu-util's path, where images are kept, timeouts: from the
 * environment or a small key=value file, never from the artifact).
 */
import { promises as fs } from "node:fs";
import process from "node:process";
import { z } from "zod";
import { fail } from "../../src/errors.ts";
import { readTextIfExists } from "../../src/files.ts";
import { readMetaData } from "../common/tree.ts";

const usbId = z.string().regex(/^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$/, "must be VID:PID in hex");
const hexOrNumber = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^(0x[0-9a-fA-F]+|[0-9]+)$/, "must be a number, e.g. 0x08000000"),
]).transform((v) => typeof v === "number" ? v : Number(v));

const MetaData = z.object({
  target: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, _ and - only").default(
    "mcu",
  ),
  device: usbId,
  dfu_device: usbId.optional(),
  serial: z.string().min(1).optional(),
  alt: z.union([z.number().int().nonnegative(), z.string().min(1)]).default(0),
  dfuse_address: hexOrNumber.optional(),
  transfer_size: z.number().int().positive().max(65535).optional(),
  version: z.string().min(1).optional(),
  verify: z.enum(["name", "upload", "none"]).default("name"),
  timeout: z.number().positive().optional(),
  enumeration_timeout: z.number().positive().optional(),
  allow_no_backup: z.boolean().default(false),
});

export interface Board {
  target: string;
  /** VID:PID in run-time (application) mode. */
  runtimeId: string;
  /** VID:PID in DFU mode (the bootloader); often differs from the run-time one. */
  dfuId: string;
  serial?: string;
  alt: number | string;
  dfuseAddress?: number;
  transferSize?: number;
  /** The firmware version the artifact provides, as `dfu.<target>.version`. */
  version?: string;
  verify: "name" | "upload" | "none";
  allowNoBackup: boolean;
}

export interface Gateway {
  dfuUtil: string;
  stateDir: string;
  /** Seconds a dfu-util call may go without any progress before it is killed. */
  timeout: number;
  /** Seconds to wait for the board to come back on the bus. */
  enumerationTimeout: number;
}

export interface Settings {
  board: Board;
  gateway: Gateway;
}

export async function readSettings(
  tree: string,
  env: Record<string, string | undefined> = process.env,
): Promise<Settings> {
  const parsed = MetaData.safeParse(await readMetaData(tree));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!; // a failed parse has at least one issue
    fail(
      "DFU_META_DATA",
      `meta-data field "${issue.path.join(".") || "(root)"}": ${issue.message}; ` +
        `see modules/dfu/README.md for the fields`,
    );
  }
  const meta = parsed.data;
  const providesKey = `dfu.${meta.target}.version`;
  const provided = await providedVersion(tree, providesKey);
  if (meta.version && provided && meta.version !== provided) {
    fail(
      "DFU_META_DATA",
      `meta-data version "${meta.version}" differs from ${providesKey}="${provided}"`,
    );
  }
  const conf = await readConf(env.OTA_DFU_CONF ?? "/etc/ota/dfu.conf");
  const number = (name: string, value: string | undefined, fallback: number) => {
    if (value === undefined || value === "") return fallback;
    const n = Number(value);
    if (!(n > 0)) {
      fail("DFU_CONFIG", `${name} must be a positive number of seconds, not "${value}"`);
    }
    return n;
  };
  const timeout = number("timeout", env.OTA_DFU_TIMEOUT ?? conf.timeout, meta.timeout ?? 120);
  return {
    board: {
      target: meta.target,
      runtimeId: meta.device.toLowerCase(),
      dfuId: (meta.dfu_device ?? meta.device).toLowerCase(),
      serial: meta.serial,
      alt: meta.alt,
      dfuseAddress: meta.dfuse_address,
      transferSize: meta.transfer_size,
      version: meta.version ?? provided,
      verify: meta.verify,
      allowNoBackup: meta.allow_no_backup,
    },
    gateway: {
      dfuUtil: env.OTA_DFU_UTIL ?? conf.dfu_util ?? "dfu-util",
      stateDir: env.OTA_DFU_STATE_DIR ?? conf.state_dir ?? "/var/lib/ota/dfu",
      // The gateway's own setting wins over the artifact's: it knows how slow its boards are.
      timeout,
      enumerationTimeout: number(
        "enumeration_timeout",
        env.OTA_DFU_ENUMERATION_TIMEOUT ?? conf.enumeration_timeout,
        meta.enumeration_timeout ?? 30,
      ),
    },
  };
}

async function providedVersion(tree: string, key: string): Promise<string | undefined> {
  const text = await readTextIfExists(`${tree}/header/type-info`);
  if (!text) return undefined;
  try {
    const value = JSON.parse(text)?.artifact_provides?.[key];
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `key=value` lines; `#` starts a comment. A missing file is an empty configuration. */
async function readConf(path: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await fs.readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    fail("DFU_CONFIG", `cannot read ${path}: ${(error as Error).message}`);
  }
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const trimmed = line.replace(/#.*/, "").trim();
    if (!trimmed) continue;
    const eq = trimmed.indexOf("=");
    if (eq < 1) fail("DFU_CONFIG", `${path}: expected key=value, got "${trimmed}"`);
    out[trimmed.slice(0, eq).trim()] = trimmed.slice(eq + 1).trim();
  }
  return out;
}
