import type { z } from "zod";
import { fail } from "../errors.ts";
import { defaultLimits } from "./limits.ts";

/** True when arrays and objects in the JSON text nest deeper than `limit` (strings skipped). */
function nestsDeeper(bytes: Uint8Array, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === 0x5c) i++; // the escaped character
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) {
      inString = true;
    } else if (byte === 0x7b || byte === 0x5b) {
      if (++depth > limit) return true;
    } else if (byte === 0x7d || byte === 0x5d) {
      depth--;
    }
  }
  return false;
}

/** Parses a JSON document of the artifact against its schema, with caps on size and nesting. */
export function parseJson<T extends z.ZodType>(
  bytes: Uint8Array,
  schema: T,
  what: string,
  limit: number,
  maxDepth = defaultLimits.jsonDepth,
): z.infer<T> {
  if (bytes.byteLength > limit) fail("LIMIT_EXCEEDED", `${what} is larger than ${limit} bytes`);
  if (nestsDeeper(bytes, maxDepth)) {
    fail("LIMIT_EXCEEDED", `${what} nests arrays and objects deeper than ${maxDepth} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    fail("ARTIFACT_JSON", `${what} is not valid JSON (${(error as Error).message})`);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!; // a failed parse has at least one issue
    const where = issue.path.length ? ` at ${issue.path.join(".")}` : "";
    fail("ARTIFACT_JSON", `${what} is not what Mender writes${where}: ${issue.message}`);
  }
  return result.data;
}

/** Minified JSON, as mender-artifact writes its headers. */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
