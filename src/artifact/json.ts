import { fail } from "../errors.ts";
import { defaultLimits } from "./limits.ts";
import { type Shape, ShapeIssue } from "./shape.ts";

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

/** Parses a JSON document of the artifact against its shape, with caps on size and nesting. */
export function parseJson<T>(
  bytes: Uint8Array,
  schema: Shape<T>,
  what: string,
  limit: number,
  maxDepth = defaultLimits.jsonDepth,
): T {
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
  try {
    return schema.check(value, []);
  } catch (error) {
    if (!(error instanceof ShapeIssue)) throw error;
    const where = error.path.length ? ` at ${error.path.join(".")}` : "";
    fail("ARTIFACT_JSON", `${what} is not what Mender writes${where}: ${error.message}`);
  }
}

/** Minified JSON, as mender-artifact writes its headers. */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
