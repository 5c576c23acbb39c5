/**
 * The real `zstd` command line, the reference for ota's zstd: frames it writes, and what it
 * makes of frames ota writes, streamed through its stdin and stdout so that hundreds of MiB
 * never sit in memory.
 */
import type { ByteStream } from "../../src/streams.ts";
import { streamOf } from "../../src/streams.ts";

export interface Piped {
  stdout: ByteStream;
  /** Its exit code and what it printed on stderr, once it has ended. */
  status: Promise<{ code: number; stderr: string }>;
}

/** Runs `zstd ARGS` (reading stdin, writing stdout) on `input`. */
export function zstdPipe(args: string[], input: ByteStream | Uint8Array): Piped {
  const child = new Deno.Command("zstd", {
    args: ["-q", "-c", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const source = input instanceof Uint8Array ? streamOf(input) : input;
  // zstd may stop reading (a decoding error); that is for the caller to see in its status
  const fed = source.pipeTo(child.stdin).catch(() => {});
  const stderr = new Response(child.stderr).text();
  return {
    stdout: child.stdout,
    status: Promise.all([child.status, stderr, fed]).then(([s, text]) => ({
      code: s.code,
      stderr: text,
    })),
  };
}

/** `zstd ARGS` on bytes: its whole output, or an error with its message. */
export async function zstdBytes(args: string[], input: Uint8Array): Promise<Uint8Array> {
  const piped = zstdPipe(args, input);
  const out = new Uint8Array(await new Response(piped.stdout).arrayBuffer());
  const { code, stderr } = await piped.status;
  if (code !== 0) throw new Error(`zstd ${args.join(" ")} exited ${code}: ${stderr}`);
  return out;
}

/** Whether `zstd -d` accepts the bytes, and its message when it does not. */
export async function zstdDecodes(input: Uint8Array): Promise<{ ok: boolean; stderr: string }> {
  const piped = zstdPipe(["-d"], input);
  await new Response(piped.stdout).arrayBuffer();
  const { code, stderr } = await piped.status;
  return { ok: code === 0, stderr };
}

/**
 * `total` bytes (a multiple of 1 MiB) that compress to about 60 %, different in every MiB:
 * pseudo-random bytes drawn from a small alphabet, with repeated runs.
 */
export function compressible(total: number, seed = 1): ByteStream {
  const MiB = 1024 * 1024;
  let made = 0;
  let x = seed >>> 0 || 1;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (made >= total) return controller.close();
      const chunk = new Uint8Array(MiB);
      for (let i = 0; i < MiB; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        // a quarter of the time, repeat the byte 64 back: matches for zstd to find
        chunk[i] = (x & 3) === 0 && i >= 64 ? chunk[i - 64]! : 97 + ((x >>> 8) % 23);
      }
      made += MiB;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
}

/** The window size a zstd frame header declares (its content size, for a single segment). */
export function frameWindow(frame: Uint8Array): number {
  const descriptor = frame[4]!;
  if (descriptor & 0x20) throw new Error("a single-segment frame: its window is its size");
  const w = frame[5]!;
  const base = 2 ** (10 + (w >> 3));
  return base + (base / 8) * (w & 7);
}
