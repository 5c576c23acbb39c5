/** Small stream helpers shared by the artifact reader, the writer and the install path. */
import { crypto } from "./builtins.ts";
import { fail } from "./errors.ts";

export type ByteStream = ReadableStream<Uint8Array>;

/** Reads a whole stream into memory, refusing more than `limit` bytes. */
export async function readAll(
  stream: ByteStream,
  limit: number,
  what: string,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.byteLength;
    if (total > limit) {
      await stream.cancel().catch(() => {});
      fail("LIMIT_EXCEEDED", `${what} is larger than the limit of ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return concat(chunks, total);
}

export function concat(chunks: Uint8Array[], total?: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total ?? chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

export function sha256Hex(bytes: Uint8Array): string {
  return crypto().createHash("sha256").update(bytes).digest("hex");
}

/** A pass-through that errors once more than `limit` bytes went through. */
export function byteLimit(
  limit: number,
  onExceeded: () => Error,
): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > limit) throw onExceeded();
      controller.enqueue(chunk);
    },
  });
}

/** A pass-through that reports the running byte count (for progress). */
export function counting(stream: ByteStream, onBytes: (total: number) => void): ByteStream {
  // Pull-based rather than a TransformStream: no pipe machinery and no extra queue per chunk.
  const reader = stream.getReader();
  let total = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await reader.read();
      if (next.done) return controller.close();
      total += next.value.byteLength;
      onBytes(total);
      controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/** Reads and discards a stream; resolves with its length. */
export async function drain(stream: ByteStream): Promise<number> {
  let total = 0;
  for await (const chunk of stream) total += chunk.byteLength;
  return total;
}

export function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function streamOf(...chunks: Uint8Array[]): ByteStream {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}
