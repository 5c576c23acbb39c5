/** Option parsers shared by the commands (commander calls them once per occurrence). */
import { readFileSync } from "node:fs";
import { fail } from "../errors.ts";
import { dataRecord } from "../records.ts";
import {
  parseSigningKey,
  parseVerifyKey,
  type SigningKey,
  type VerifyKey,
} from "../artifact/signature.ts";

/** Collects a repeatable option into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Splits repeated `KEY:VALUE` options into a record. */
export function keyValues(pairs: string[] = [], flag: string): Record<string, string> {
  const out = dataRecord<string>();
  for (const pair of pairs) {
    const at = pair.indexOf(":");
    if (at <= 0) fail("BAD_ARGUMENTS", `${flag} takes KEY:VALUE, not ${JSON.stringify(pair)}`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

export function readFileOrFail(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    fail(
      "FILE_UNREADABLE",
      `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
}

export function loadSigningKey(path: string): SigningKey {
  return parseSigningKey(readFileOrFail(path, "the signing key"), `the signing key ${path}`);
}

export function loadVerifyKeys(paths: string[]): VerifyKey[] {
  return paths.map((path) =>
    parseVerifyKey(readFileOrFail(path, "the verification key"), `the key ${path}`)
  );
}

export function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    fail("BAD_ARGUMENTS", `${what} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail("BAD_ARGUMENTS", `${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function parseSize(value: string): number {
  const match = /^(\d+)\s*([KMGT]i?B?)?$/i.exec(value.trim());
  if (!match) fail("BAD_ARGUMENTS", `${value} is not a size (examples: 512, 64M, 2GiB)`);
  const unit = (match[2] ?? "").toUpperCase()[0];
  const power = unit ? "KMGT".indexOf(unit) + 1 : 0;
  return Number(match[1]) * 1024 ** power;
}
