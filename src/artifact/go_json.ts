/**
 * JSON as Go's encoding/json writes it, for documents mender-artifact re-encodes (meta-data,
 * mender.conf): object keys sorted by their bytes, `<`, `>`, `&`, U+2028 and U+2029 escaped.
 */
import { Buffer } from "node:buffer";

function goString(text: string): string {
  return JSON.stringify(text).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Compact JSON with Go's key order and escapes. */
export function goJson(value: unknown): string {
  if (typeof value === "string") return goString(value);
  if (Array.isArray(value)) return `[${value.map(goJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const record = value as Record<string, unknown>;
    return `{${keys.map((key) => `${goString(key)}:${goJson(record[key])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * Go's json.Indent of compact JSON: every line after the first starts with `prefix`, each
 * level adds `indent`; empty arrays and objects stay `[]` and `{}`.
 */
export function goIndent(compact: string, prefix: string, indent: string): string {
  let out = "";
  let depth = 0;
  let inString = false;
  const newline = () => "\n" + prefix + indent.repeat(depth);
  for (let i = 0; i < compact.length; i++) {
    const c = compact[i]!;
    if (inString) {
      out += c;
      if (c === "\\") out += compact[++i] ?? "";
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
    } else if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      if (compact[i + 1] === close) {
        out += c + close;
        i++;
        continue;
      }
      depth++;
      out += c + newline();
    } else if (c === "}" || c === "]") {
      depth--;
      out += newline() + c;
    } else if (c === ",") out += c + newline();
    else if (c === ":") out += ": ";
    else out += c;
  }
  return out;
}
