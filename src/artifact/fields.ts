/**
 * What ota prints and stores of an artifact must stay parseable: `show-provides` prints one
 * `key=value` line per provide, `artifact read` one name or provide a line, and every message
 * is one line. mender-artifact accepts control characters in these fields (and `=` in
 * provides keys); ota refuses them when it reads the artifact, naming the field.
 */
import { fail } from "../errors.ts";
import type { HeaderInfo, TypeInfo } from "./schema.ts";

/** C0 controls (newline, ESC, NUL ...), DEL and the C1 controls. */
const control = /\p{Cc}/u;
const loneSurrogate = /\p{Cs}/u;

/** The value with its control characters spelled out, for a message that stays one line. */
export function visible(value: string): string {
  return JSON.stringify(value.slice(0, 200)).replace(
    /\p{Cc}/gu, // what JSON leaves: DEL and C1
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function refuse(where: string, field: string, value: string, what: string): never {
  fail(
    "ARTIFACT_FIELD_INVALID",
    `${where}: ${field} ${visible(value)} ${what}; ota refuses it so that what it prints ` +
      "and stores stays one entry a line (mender-artifact accepts it)",
  );
}

function text(where: string, field: string, value: string | null | undefined): void {
  if (!value) return;
  if (control.test(value)) refuse(where, field, value, "holds a control character");
  if (loneSurrogate.test(value)) refuse(where, field, value, "holds a lone UTF-16 surrogate");
}

export function requireParseableHeaderInfo(info: Partial<HeaderInfo>, where: string): void {
  for (const [i, payload] of (info.payloads ?? []).entries()) {
    text(where, `payloads[${i}].type`, payload.type);
  }
  const provides = info.artifact_provides;
  text(where, "artifact_provides.artifact_name", provides?.artifact_name);
  text(where, "artifact_provides.artifact_group", provides?.artifact_group);
  const depends = info.artifact_depends;
  for (const field of ["device_type", "artifact_name", "artifact_group"] as const) {
    for (const value of depends?.[field] ?? []) text(where, `artifact_depends.${field}`, value);
  }
}

export function requireParseableTypeInfo(typeInfo: TypeInfo, where: string): void {
  text(where, "type", typeInfo.type);
  for (const [key, value] of Object.entries(typeInfo.artifact_provides ?? {})) {
    text(where, "the artifact_provides key", key);
    if (key.includes("=")) refuse(where, "the artifact_provides key", key, "holds '='");
    text(where, `artifact_provides.${key}`, value);
  }
  for (const [key, value] of Object.entries(typeInfo.artifact_depends ?? {})) {
    text(where, "the artifact_depends key", key);
    for (const one of Array.isArray(value) ? value : [value]) {
      text(where, `artifact_depends.${key}`, one);
    }
  }
  for (const pattern of typeInfo.clears_artifact_provides ?? []) {
    text(where, "clears_artifact_provides", pattern);
  }
}
