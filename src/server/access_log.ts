/** One line per request, safe to print: control characters in the path cannot forge lines. */

export interface AccessRecord {
  remote: string;
  method: string;
  path: string;
  status: number;
  /** Bytes of the body sent (planned: a transfer may still be running). */
  bytes: number;
  /** `start-end/size` of a partial response. */
  range?: string;
  ms: number;
}

function clean(text: string, max: number): string {
  const safe = text.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f"\\]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
  return safe.length > max ? `${safe.slice(0, max)}...` : safe;
}

export function formatAccess(record: AccessRecord, now = new Date()): string {
  const range = record.range ? ` range=${record.range}` : "";
  return `${now.toISOString()} ${record.remote || "-"} "${record.method} ${
    clean(record.path, 300)
  }" ${record.status} ${record.bytes}${range} ${record.ms.toFixed(1)}ms`;
}
