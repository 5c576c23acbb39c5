/**
 * One resumable HTTP body: the bytes `[start, end)` of a file (the whole file by default)
 * from one or more origins. Every request asks for `Accept-Encoding: identity`; every
 * response is held to the transfer limits (limits.ts) and judged before a byte of it is
 * used (answer.ts). A broken response is resumed after a backoff with
 * `Range: bytes=<offset>-` (`<offset>-<end-1>` for a range) and `If-Range` (the strong
 * ETag, else Last-Modified). What a refused answer or a failure costs is the origins'
 * choice (origins.ts): one URL with a retry budget, or the next peer.
 */
import { OtaError } from "../errors.ts";
import type { ByteStream } from "../streams.ts";
import { judgeAnswer, learnValidators, type Validators } from "./answer.ts";
import { type Backoff, backoffDelay, sleep } from "./backoff.ts";
import { type TransferLimits, TransferWatch } from "./limits.ts";
import type { Origins } from "./origins.ts";

export type { Validators };

export interface BodyOptions {
  /** The runtime's fetch with its TLS and proxy settings (platform.ts httpFetch). */
  fetch: typeof fetch;
  origins: Origins;
  /** Extra request headers (Authorization). */
  headers?: Record<string, string>;
  /** What is known of the file beforehand; what is missing is learned from the first answer. */
  validators?: Validators;
  limits: TransferLimits;
  backoff: Backoff;
  /** Each retry, resume or refused answer, for the log. */
  onEvent?: (message: string) => void;
}

export interface Body {
  stream: ByteStream;
  /** The file's validators: those given, completed from the first answer. */
  validators: Validators;
  /** The URLs that delivered bytes so far. */
  contributors(): string[];
}

interface Current {
  url: string;
  reader: ReadableStreamDefaultReader<Uint8Array>;
  watch: TransferWatch;
  /** Bytes to drop first: the part of a 200 before the offset. */
  skip: number;
  /** A 200: the whole file, of which only `[offset, end)` is wanted. */
  whole: boolean;
}

/**
 * Opens the bytes `[start, end)` of the file (`end` left out: to the end of the file) and
 * resolves once the first answer is in, so a 404 or a refused connection fails here.
 */
export async function openBody(
  options: BodyOptions,
  range: { start?: number; end?: number } = {},
): Promise<Body> {
  const transfer = new Transfer(options, range.start ?? 0, range.end);
  await transfer.connect();
  return {
    stream: transfer.stream(),
    validators: transfer.validators,
    contributors: () => [...transfer.contributors],
  };
}

class Transfer {
  readonly validators: Validators;
  readonly contributors = new Set<string>();
  #offset: number;
  readonly #end?: number;
  #current?: Current;
  #failuresInRow = 0;
  #lastFailure?: { url: string; cause: OtaError; atLeastMs: number };
  /** Nothing more to read: the end was reached (or a 416 said so). */
  #complete = false;

  constructor(readonly options: BodyOptions, start: number, end?: number) {
    if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && end < start)) {
      throw new RangeError(`invalid byte range [${start}, ${end})`);
    }
    this.validators = { ...options.validators };
    this.#offset = start;
    this.#end = end;
  }

  /** Where the bytes asked for end, once known. */
  get #stop(): number | undefined {
    return this.#end ?? this.validators.size;
  }

  #headers(): Record<string, string> {
    const headers: Record<string, string> = {
      ...this.options.headers,
      "accept-encoding": "identity",
    };
    if (this.#offset > 0 || this.#end !== undefined) {
      headers.range = `bytes=${this.#offset}-${this.#end !== undefined ? this.#end - 1 : ""}`;
      const validator = this.validators.etag ?? this.validators.lastModified;
      if (validator) headers["if-range"] = validator;
    }
    return headers;
  }

  #failed(url: string, cause: OtaError, atLeastMs = 0): void {
    this.#failuresInRow++;
    this.options.origins.failed(url, cause);
    this.#lastFailure = { url, cause, atLeastMs };
  }

  /** Asks origins until one answers usably; sets `#current`, or `#complete` on a 416 at the end. */
  async connect(): Promise<void> {
    const { origins, backoff } = this.options;
    for (;;) {
      if (this.#stop !== undefined && this.#offset >= this.#stop) {
        this.#complete = true;
        return;
      }
      const url = origins.next();
      if (!url) throw origins.exhausted(this.#offset, this.#lastFailure?.cause);
      const failure = this.#lastFailure;
      if (failure) {
        this.#lastFailure = undefined;
        const delay = Math.max(failure.atLeastMs, backoffDelay(backoff, this.#failuresInRow));
        const where = this.#offset > 0 ? `resuming at byte ${this.#offset}` : "retrying";
        this.options.onEvent?.(
          `${failure.url}: ${failure.cause.message}; ${where}${
            url !== failure.url ? ` from ${url}` : ""
          } in ${delay / 1000} s`,
        );
        await sleep(delay);
      }
      const watch = new TransferWatch(this.options.limits);
      const headers = this.#headers();
      let response: Response;
      try {
        response = await this.options.fetch(url, {
          headers,
          signal: watch.signal,
          redirect: "follow",
        });
        watch.responded();
      } catch (error) {
        watch.stop();
        this.#failed(
          url,
          watch.tripped ??
            new OtaError("SOURCE_NETWORK", `cannot connect: ${(error as Error).message}`),
        );
        continue;
      }
      let opened = false;
      try {
        opened = await this.#judge(url, response, watch, "range" in headers);
      } finally {
        if (!opened) {
          watch.stop();
          await response.body?.cancel().catch(() => {});
        }
      }
      if (opened || this.#complete) return;
    }
  }

  /** Acts on an answer (answer.ts); true when its body is now `#current`. */
  async #judge(
    url: string,
    response: Response,
    watch: TransferWatch,
    ranged: boolean,
  ): Promise<boolean> {
    const { origins } = this.options;
    const verdict = judgeAnswer(response, {
      offset: this.#offset,
      stop: this.#stop,
      ranged,
      validators: this.validators,
    });
    switch (verdict.kind) {
      case "busy":
        if (origins.busy) await origins.busy(url, verdict.retryAfterSeconds);
        else {
          const wait = Math.min(
            this.options.backoff.maxMs,
            (verdict.retryAfterSeconds ?? 0) * 1000,
          );
          this.#failed(url, verdict.cause, wait);
        }
        return false;
      case "failed":
        this.#failed(url, verdict.cause);
        return false;
      case "refused":
        origins.refused(url, verdict.cause);
        return false;
      case "complete":
        this.#complete = true;
        return false;
      case "body":
        if (verdict.skip > 0) {
          this.options.onEvent?.(
            `${url}: the server does not resume downloads; reading again from the start`,
          );
        }
        learnValidators(this.validators, response.headers, verdict.size);
        return this.#open(url, response.body, watch, verdict.skip, verdict.whole);
    }
  }

  #open(
    url: string,
    body: ReadableStream<Uint8Array> | null,
    watch: TransferWatch,
    skip: number,
    whole: boolean,
  ): boolean {
    if (!body) {
      this.#failed(url, new OtaError("SOURCE_DOWNLOAD", "the answer has no body"));
      return false;
    }
    this.#current = { url, reader: body.getReader(), watch, skip, whole };
    return true;
  }

  async #drop(): Promise<void> {
    const current = this.#current;
    this.#current = undefined;
    if (!current) return;
    current.watch.abort();
    await current.reader.cancel().catch(() => {});
  }

  /** The next chunk of the range, or undefined at its end. */
  async #next(): Promise<Uint8Array | undefined> {
    for (;;) {
      const stop = this.#stop;
      if (this.#complete || (stop !== undefined && this.#offset >= stop)) {
        await this.#drop();
        return undefined;
      }
      if (!this.#current) {
        await this.connect();
        continue;
      }
      const current = this.#current;
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await current.watch.read(current.reader);
      } catch (error) {
        await this.#drop();
        this.#failed(
          current.url,
          error instanceof OtaError ? error : new OtaError(
            "SOURCE_DOWNLOAD",
            `the connection broke at byte ${this.#offset}: ${(error as Error).message}`,
          ),
        );
        continue;
      }
      if (result.done) {
        await this.#drop();
        if (stop === undefined) {
          this.#complete = true; // no length given: the close is the end
          continue;
        }
        this.#failed(
          current.url,
          new OtaError(
            "SOURCE_DOWNLOAD",
            `the connection closed at byte ${this.#offset} of ${stop}`,
          ),
        );
        continue;
      }
      let chunk = result.value;
      if (current.skip > 0) {
        const drop = Math.min(current.skip, chunk.byteLength);
        current.skip -= drop;
        chunk = chunk.subarray(drop);
      }
      if (stop !== undefined && this.#offset + chunk.byteLength > stop) {
        const size = this.validators.size;
        const pastFile = size !== undefined && this.#offset + chunk.byteLength > size;
        if (!current.whole || this.#end === undefined || pastFile) {
          await this.#drop();
          this.options.origins.refused(
            current.url,
            new OtaError("SOURCE_RANGE", "it sends more bytes than the file has"),
          );
          continue;
        }
        chunk = chunk.subarray(0, stop - this.#offset); // the whole file answering a range
      }
      if (!chunk.byteLength) continue;
      this.#offset += chunk.byteLength;
      this.#failuresInRow = 0;
      this.contributors.add(current.url);
      return chunk;
    }
  }

  stream(): ByteStream {
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = await this.#next();
        if (chunk) controller.enqueue(chunk);
        else controller.close();
      },
      cancel: () => this.#drop(),
    }, { highWaterMark: 0 });
  }
}
