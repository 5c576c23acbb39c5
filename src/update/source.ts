/**
 * Where the artifact comes from: a local path, `file://`, or `http(s)://`. Over HTTP a broken
 * connection resumes with a Range request from the byte where it broke (bounded retries with
 * backoff, an idle timeout, the server's validators checked so a file that changed is never
 * stitched together), and a download that cannot finish ends with an error, never a hang.
 */
import { promises as fs } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { fail, OtaError } from "../errors.ts";
import { readFileStream } from "../files.ts";
import type { Logger } from "../log.ts";
import { httpFetch } from "../platform.ts";
import type { ByteStream } from "../streams.ts";
import { proxyFor } from "./proxy.ts";

export interface SourceOptions {
  log: Logger;
  /** Retries after the first attempt (Mender's RetryDownloadCount). */
  retries: number;
  /** Longest pause between retries; pauses grow 1 s, 2 s, 4 s ... up to this. */
  maxIntervalMs: number;
  /** A response that delivers nothing for this long is abandoned and retried. */
  idleTimeoutMs: number;
  /** PEM of a server certificate or CA to trust (ServerCertificate). */
  ca?: string;
  insecure?: boolean;
  /** A client certificate and key (PEM) for servers that want mutual TLS. */
  cert?: string;
  key?: string;
  env?: Record<string, string | undefined>;
  /** Stops the download at once (the daemon stopping): no more requests, no retries. */
  signal?: AbortSignal;
}

export interface Source {
  stream: ByteStream;
  /** Bytes, when known. */
  size?: number;
  /** For messages: the path or URL. */
  name: string;
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

interface Validators {
  etag?: string;
  lastModified?: string;
  size?: number;
}

function describeStatus(response: Response): string {
  return `${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
  const request = async (headers: Record<string, string>, signal: AbortSignal) => {
    if (options.signal?.aborted) fail("STOPPED", `the download of ${url} was stopped`);
    const both = options.signal ? AbortSignal.any([signal, options.signal]) : signal;
    try {
      return await doFetch(url, { headers, signal: both, redirect: "follow" });
    } catch (error) {
      throw new OtaError("SOURCE_NETWORK", `cannot reach ${url}: ${(error as Error).message}`);
    }
  };

  let controller = new AbortController();
  const first = await withRetries(options, async () => {
    controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), options.idleTimeoutMs);
    try {
      return await request({}, controller.signal);
    } finally {
      clearTimeout(timer); // from here on, the body's idle timeout applies
    }
  }, url);
  if (!first.ok || !first.body) {
    await first.body?.cancel();
    fail("SOURCE_HTTP", `${url}: the server answered ${describeStatus(first)}`);
  }
  const length = first.headers.get("content-length");
  const validators: Validators = {
    etag: first.headers.get("etag") ?? undefined,
    lastModified: first.headers.get("last-modified") ?? undefined,
    size: length !== null && Number(length) > 0 ? Number(length) : undefined,
  };
  return {
    stream: resumingBody(url, first, controller, validators, request, options),
    size: validators.size,
    name: url,
  };
}

/** Retries a request that fails before any byte arrived (connection refused, reset, 5xx). */
async function withRetries(
  options: SourceOptions,
  attempt: () => Promise<Response>,
  url: string,
): Promise<Response> {
  for (let tries = 0;; tries++) {
    try {
      const response = await attempt();
      if (response.status < 500 || tries >= options.retries || options.signal?.aborted) {
        return response;
      }
      await response.body?.cancel();
      options.log.warning(`${url}: the server answered ${describeStatus(response)}; retrying`);
    } catch (error) {
      if (tries >= options.retries || options.signal?.aborted) throw error;
      options.log.warning(`${(error as Error).message}; retrying`);
    }
    await sleep(Math.min(options.maxIntervalMs, 1000 * 2 ** tries));
  }
}

function resumingBody(
  url: string,
  first: Response,
  firstController: AbortController,
  validators: Validators,
  request: (headers: Record<string, string>, signal: AbortSignal) => Promise<Response>,
  options: SourceOptions,
): ByteStream {
  let reader = first.body!.getReader();
  let controller = firstController;
  let offset = 0;
  let retries = 0;
  let skip = 0;

  const readWithIdleTimeout = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new OtaError("SOURCE_STALLED", `${url}: no data for ${options.idleTimeoutMs / 1000} s`),
        );
        controller.abort(); // after the rejection, so the race reports the stall, not the abort
      }, options.idleTimeoutMs);
    });
    try {
      return await Promise.race([reader.read(), idle]);
    } finally {
      clearTimeout(timer);
    }
  };

  const resume = async (cause: Error) => {
    if (retries >= options.retries || options.signal?.aborted) {
      fail(
        "SOURCE_DOWNLOAD",
        `download of ${url} failed after ${
          retries + 1
        } attempts at byte ${offset}: ${cause.message}`,
      );
    }
    retries++;
    const delay = Math.min(options.maxIntervalMs, 1000 * 2 ** (retries - 1));
    options.log.warning(
      `${cause.message}; resuming at byte ${offset} in ${
        delay / 1000
      } s (attempt ${retries} of ${options.retries})`,
    );
    await reader.cancel().catch(() => {});
    await sleep(delay);
    controller = new AbortController();
    const headers: Record<string, string> = { range: `bytes=${offset}-` };
    const validator = validators.etag && !validators.etag.startsWith("W/")
      ? validators.etag
      : validators.lastModified;
    if (validator) headers["if-range"] = validator;
    let response: Response;
    try {
      response = await request(headers, controller.signal);
    } catch (error) {
      return await resume(error as Error);
    }
    const etag = response.headers.get("etag") ?? undefined;
    if (response.status === 416 && validators.size === offset) {
      skip = 0;
      reader = new Response(new Uint8Array(0)).body!.getReader();
      return;
    }
    if (response.status >= 500) {
      await response.body?.cancel();
      return await resume(new Error(`${url}: the server answered ${describeStatus(response)}`));
    }
    if (validators.etag && etag && etag !== validators.etag) {
      await response.body?.cancel();
      fail(
        "SOURCE_CHANGED",
        `${url} changed on the server during the download (ETag ${validators.etag} became ${etag}); start again`,
      );
    }
    if (response.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(
        response.headers.get("content-range") ?? "",
      );
      if (
        !range || Number(range[1]) !== offset ||
        (validators.size && range[3] !== "*" && Number(range[3]) !== validators.size)
      ) {
        await response.body?.cancel();
        fail(
          "SOURCE_RANGE",
          `${url}: the server answered the resume request with a range that does not match (${
            response.headers.get("content-range")
          })`,
        );
      }
      skip = 0;
    } else if (response.status === 200) {
      // The server ignored the range: read from the start and drop what we already have.
      options.log.warning(
        `${url}: the server does not resume downloads; reading again from the start`,
      );
      skip = offset;
    } else {
      await response.body?.cancel();
      fail(
        "SOURCE_HTTP",
        `${url}: the server answered ${describeStatus(response)} to a resume request`,
      );
    }
    if (!response.body) fail("SOURCE_HTTP", `${url}: empty response to a resume request`);
    reader = response.body.getReader();
  };

  return new ReadableStream<Uint8Array>({
    async pull(out) {
      while (true) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await readWithIdleTimeout();
        } catch (error) {
          if (error instanceof OtaError && error.code !== "SOURCE_STALLED") throw error;
          await resume(error as Error);
          continue;
        }
        if (result.done) {
          if (validators.size !== undefined && offset < validators.size) {
            await resume(
              new Error(`${url}: the connection closed at byte ${offset} of ${validators.size}`),
            );
            continue;
          }
          out.close();
          return;
        }
        let chunk = result.value;
        if (skip > 0) {
          const drop = Math.min(skip, chunk.byteLength);
          skip -= drop;
          chunk = chunk.subarray(drop);
          if (!chunk.byteLength) continue;
        }
        offset += chunk.byteLength;
        out.enqueue(chunk);
        return;
      }
    },
    async cancel(reason) {
      controller.abort();
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
