/**
 * Who serves the bytes of a resumable body, and what a failure there costs: one URL with a
 * budget of retries (`ota install URL`), or the peers holding the same file (src/peers).
 */
import { OtaError } from "../errors.ts";

export interface Origins {
  /** The URL to ask now; undefined when none is left (the body then ends with `exhausted`). */
  next(): string | undefined;
  /** A transient failure at `url`: network, 5xx, a broken transfer rule, an early close. */
  failed(url: string, cause: OtaError): void;
  /**
   * `url` answered something that does not fit (another file, a wrong range, an encoding,
   * a 4xx). Throwing ends the body with that error; returning moves on to `next()`.
   */
  refused(url: string, cause: OtaError): void;
  /**
   * 503 or 429: resolves when to ask again, without counting a failure. Without it such
   * an answer is a failure, retried after at least its Retry-After.
   */
  busy?(url: string, retryAfterSeconds: number | undefined): Promise<void>;
  /** The error that ends the body once `next()` gave nothing. */
  exhausted(offset: number, last: OtaError | undefined): OtaError;
}

/**
 * One URL, tried at most `retries` times more after the first attempt (Mender's
 * RetryDownloadCount, counted over the whole download); anything that does not fit ends it.
 * The final error keeps the code of the last failure (SOURCE_NETWORK, SOURCE_STALLED,
 * SOURCE_TOO_SLOW, or SOURCE_DOWNLOAD when the server kept ending the transfer early).
 */
export function singleOrigin(url: string, retries: number): Origins {
  let failures = 0;
  return {
    next: () => failures <= retries ? url : undefined,
    failed() {
      failures++;
    },
    refused(_, cause) {
      throw new OtaError(cause.code, `${url}: ${cause.message}`);
    },
    exhausted: (offset, last) =>
      new OtaError(
        last?.code ?? "SOURCE_DOWNLOAD",
        `download of ${url} failed after ${failures} attempts at byte ${offset}: ${
          last?.message ?? "no answer"
        }`,
      ),
  };
}
