/**
 * Where the artifact comes from: a local path, `file://`, or `http(s)://`. Over HTTP it is
 * one resumable body (src/http/resumable.ts) from one URL with Mender's retry count: resumed
 * where it broke, held to the idle and minimum-rate limits, never stitched from two files.
 */
import { promises as fs } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { fail } from "../errors.ts";
import { readFileStream } from "../files.ts";
import type { TransferLimits } from "../http/limits.ts";
import { singleOrigin } from "../http/origins.ts";
import { proxyFor } from "../http/proxy.ts";
import { openBody } from "../http/resumable.ts";
import { type ArtifactRanges, openRanged } from "../adaptive/ranged_source.ts";
import type { Logger } from "../log.ts";
import { httpFetch } from "../platform.ts";
import type { ByteStream } from "../streams.ts";

export interface SourceOptions {
  log: Logger;
  /** Retries after the first attempt (Mender's RetryDownloadCount). */
  retries: number;
  /** Longest pause between retries; pauses grow 1 s, 2 s, 4 s ... up to this. */
  maxIntervalMs: number;
  /** Idle timeout and minimum rate of each response (a response that breaks one is resumed). */
  limits: TransferLimits;
  /** PEM of a server certificate or CA to trust (ServerCertificate). */
  ca?: string;
  insecure?: boolean;
  /** A client certificate and key (PEM) for servers that want mutual TLS. */
  cert?: string;
  key?: string;
  env?: Record<string, string | undefined>;
  /** Stops the download at once (the daemon stopping): no more requests, no retries. */
  signal?: AbortSignal;
  /** Over HTTP, read the head by byte ranges first (adaptive updates: src/adaptive). */
  adaptive?: boolean;
}

export interface Source {
  stream: ByteStream;
  /** Bytes, when known. */
  size?: number;
  /** For messages: the path or URL. */
  name: string;
  /** Byte ranges of the same artifact; its stream then waits past the head (ranged_source.ts). */
  ranges?: ArtifactRanges;
}

export async function openSource(uri: string, options: SourceOptions): Promise<Source> {
  if (/^https?:\/\//i.test(uri)) return await openHttp(uri, options);
  const path = uri.startsWith("file://") ? fileURLToPath(uri) : uri;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && !uri.startsWith("file://")) {
    fail("SOURCE_UNSUPPORTED", `${uri}: only local paths, file:// and http(s):// are supported`);
  }
  const stat = await fs.stat(path).catch((error) => {
    fail(
      "SOURCE_NOT_FOUND",
      `cannot open ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  });
  if (stat.isDirectory()) fail("SOURCE_NOT_FOUND", `${path} is a directory, not an artifact`);
  return { stream: readFileStream(path), size: stat.isFile() ? stat.size : undefined, name: path };
}

async function openHttp(url: string, options: SourceOptions): Promise<Source> {
  const env = options.env ?? process.env;
  const doFetch = (() => {
    try {
      return httpFetch({
        ca: options.ca,
        insecure: options.insecure,
        cert: options.cert,
        key: options.key,
        proxy: proxyFor(url, env),
      });
    } catch (error) {
      fail("SOURCE_TLS", (error as Error).message);
    }
  })();
  const { signal } = options;
  const origins = singleOrigin(url, options.retries);
  const transfer = {
    fetch: signal
      ? (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
        if (signal.aborted) fail("STOPPED", `the download of ${url} was stopped`);
        const both = init?.signal ? AbortSignal.any([init.signal, signal]) : signal;
        return doFetch(input, { ...init, signal: both });
      }
      : doFetch,
    // once stopped, no origin is left: the body ends at once instead of retrying
    origins: signal
      ? { ...origins, next: () => signal.aborted ? undefined : origins.next() }
      : origins,
    limits: options.limits,
    backoff: { firstMs: 1000, maxMs: options.maxIntervalMs },
    onEvent: (message: string) => options.log.warning(message),
  };
  if (options.adaptive) return await openRanged({ ...transfer, name: url });
  const body = await openBody(transfer);
  return { stream: body.stream, size: body.validators.size, name: url };
}
