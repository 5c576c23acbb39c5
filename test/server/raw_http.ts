/** Raw HTTP/1.1 over TCP, for requests `fetch` would normalise or refuse to send. */

export interface RawResponse {
  status: number;
  head: string;
  body: Uint8Array;
}

/** Sends `request` as is and reads until the server closes or `timeoutMs` passes. */
export async function rawRequest(
  port: number,
  request: string | Uint8Array,
  timeoutMs = 5000,
  hostname = "127.0.0.1",
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname, port });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  const chunks: Uint8Array[] = [];
  try {
    await conn.write(typeof request === "string" ? new TextEncoder().encode(request) : request);
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* already closed */ }
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  const text = new TextDecoder("latin1").decode(all);
  const end = text.indexOf("\r\n\r\n");
  const head = end >= 0 ? text.slice(0, end) : text;
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  return { status, head, body: end >= 0 ? all.slice(end + 4) : new Uint8Array() };
}

/** `GET path` with `Connection: close` and any extra header lines. */
export function get(path: string, ...headers: string[]): string {
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${
    headers.map((h) => `${h}\r\n`).join("")
  }\r\n`;
}
