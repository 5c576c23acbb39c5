/**
 * Mender's identity and inventory scripts, run unchanged: each prints `key=value` lines; a key
 * seen more than once becomes a list. The identity becomes the auth request's `id_data`, the
 * inventory the attribute list the server shows.
 */
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { fail } from "../errors.ts";
import type { Logger } from "../log.ts";
import { runProcess } from "../process.ts";

/** Scripts that hang must not stop the daemon; Mender waits forever, ota one minute. */
const SCRIPT_TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 1024 * 1024;

export type Attributes = Map<string, string[]>;

/** Parses `key=value` lines as Mender's KeyValParser: empty lines skipped, a line without `=` is an error. */
export function parseKeyValues(text: string): Attributes | string {
  const out: Attributes = new Map();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const at = line.indexOf("=");
    if (at < 0) return `incorrect line '${line}'`;
    const key = line.slice(0, at);
    out.set(key, [...(out.get(key) ?? []), line.slice(at + 1)]);
  }
  return out;
}

/** One value as Mender sends it: a string, or a list when the key came more than once. */
export function attributeValue(values: string[]): string | string[] {
  const [only] = values;
  return values.length === 1 && only !== undefined ? only : values;
}

/** JSON as Go's encoder writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped. */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The identity as the `id_data` string: a JSON object with sorted keys (Go marshals maps so). */
export function identityJson(identity: Attributes): string {
  const sorted: Record<string, string | string[]> = {};
  for (const [key, values] of [...identity].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    sorted[key] = attributeValue(values);
  }
  return goJson(sorted);
}

/** Runs the identity script; its failure or empty output is an error (no identity, no auth). */
export async function readIdentity(script: string, log: Logger): Promise<Attributes> {
  const result = await runProcess(script, [], {
    timeoutMs: SCRIPT_TIMEOUT_MS,
    maxStdout: MAX_OUTPUT,
    onLine: (stream, line) => {
      if (stream === "stderr") log.debug(`${script} (stderr): ${line}`);
    },
  }).catch((error) => {
    fail(
      "IDENTITY_FAILED",
      `cannot run the identity script ${script}: ${(error as Error).message}`,
    );
  });
  if (result.code !== 0) {
    fail(
      "IDENTITY_FAILED",
      `the identity script ${script} failed (${result.signal ?? `exit ${result.code}`})`,
    );
  }
  const parsed = parseKeyValues(result.stdout);
  if (typeof parsed === "string") {
    fail("IDENTITY_FAILED", `the identity script ${script} printed an ${parsed}`);
  }
  if (!parsed.size) fail("IDENTITY_FAILED", `the identity script ${script} printed no identity`);
  return parsed;
}

/**
 * Runs every executable `mender-inventory-*` in `dir`, in name order, and merges what they
 * print. As Mender 3.4: a script whose output cannot be parsed is skipped, one that exits
 * non-zero still counts (it is only logged), a missing directory gives no attributes.
 */
export async function readInventory(dir: string, log: Logger): Promise<Attributes> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const merged: Attributes = new Map();
  for (const name of names.sort()) {
    if (!name.startsWith("mender-inventory-")) continue;
    const path = join(dir, name);
    const stat = await fs.stat(path).catch(() => undefined);
    if (!stat?.isFile() || (stat.mode & 0o111) === 0) continue;
    const result = await runProcess(path, [], {
      timeoutMs: SCRIPT_TIMEOUT_MS,
      maxStdout: MAX_OUTPUT,
    }).catch((error) => {
      log.warning(`Inventory script ${name} could not run: ${(error as Error).message}`);
      return undefined;
    });
    if (!result) continue;
    if (result.code !== 0) {
      log.warning(`Inventory script ${name} exited ${result.signal ?? result.code}`);
    }
    const parsed = parseKeyValues(result.stdout);
    if (typeof parsed === "string") {
      log.warning(`Inventory script ${name} printed an ${parsed}; its output is left out`);
      continue;
    }
    for (const [key, values] of parsed) merged.set(key, [...(merged.get(key) ?? []), ...values]);
  }
  return merged;
}
