import type { z } from "zod";
import { fail } from "../errors.ts";

/** Parses a JSON document of the artifact against its schema, with a size cap. */
export function parseJson<T extends z.ZodType>(
  bytes: Uint8Array,
  schema: T,
  what: string,
  limit: number,
): z.infer<T> {
  if (bytes.byteLength > limit) fail("LIMIT_EXCEEDED", `${what} is larger than ${limit} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    fail("ARTIFACT_JSON", `${what} is not valid JSON (${(error as Error).message})`);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue.path.length ? ` at ${issue.path.join(".")}` : "";
    fail("ARTIFACT_JSON", `${what} is not what Mender writes${where}: ${issue.message}`);
  }
  return result.data;
}

/** Minified JSON, as mender-artifact writes its headers. */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
