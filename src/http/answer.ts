/**
 * What an HTTP answer means for a resumable body, decided before a byte of it is used:
 *
 *   503/429          busy: the origins decide (peers: try the next), else a failure
 *   other 5xx        a failure: retried
 *   Content-Encoding refused (SOURCE_ENCODING): its offsets are not the file's, and Bun
 *                    decodes it even when identity was asked for while Deno does not
 *   another ETag     refused (SOURCE_CHANGED): another file, never spliced on
 *   206              its Content-Range must be exactly the bytes asked for (SOURCE_RANGE)
 *   200              the whole file: its length (and date, without an ETag) must match what
 *                    is known; to a Range, the bytes before the offset are skipped
 *   416 at the end   the file is complete
 *   anything else    refused (SOURCE_HTTP)
 */
import { type ErrorCode, OtaError } from "../errors.ts";
import { retryAfterSeconds } from "./backoff.ts";

export interface Validators {
  /** A strong ETag: sent in If-Range; an answer with another ETag is another file. */
  etag?: string;
  /** Sent in If-Range when there is no strong ETag. */
  lastModified?: string;
  /** The whole file's size. */
  size?: number;
}

/** What the request asked for. */
export interface Asked {
  /** The next byte wanted. */
  offset: number;
  /** Where the bytes wanted end, when known. */
  stop?: number;
  /** A Range header was sent. */
  ranged: boolean;
  validators: Validators;
}

export type Verdict =
  | { kind: "busy"; retryAfterSeconds?: number; cause: OtaError }
  | { kind: "failed"; cause: OtaError }
  | { kind: "refused"; cause: OtaError }
  | { kind: "complete" }
  /** Read its body: drop `skip` bytes first; `whole`: the whole file (a 200). */
  | { kind: "body"; skip: number; whole: boolean; size?: number };

function describeStatus(response: Response): string {
  return `${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
}

const contentRange = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

export function judgeAnswer(response: Response, asked: Asked): Verdict {
  const { status, headers } = response;
  const known = asked.validators;
  const refused = (code: ErrorCode, message: string): Verdict => ({
    kind: "refused",
    cause: new OtaError(code, message),
  });
  const answered = new OtaError(
    "SOURCE_DOWNLOAD",
    `the server answered ${describeStatus(response)}`,
  );
  if (status === 503 || status === 429) {
    return {
      kind: "busy",
      retryAfterSeconds: retryAfterSeconds(headers.get("retry-after")),
      cause: answered,
    };
  }
  if (status >= 500) return { kind: "failed", cause: answered };
  const encoding = headers.get("content-encoding");
  if (encoding !== null && !/^\s*identity\s*$/i.test(encoding)) {
    return refused(
      "SOURCE_ENCODING",
      `the server sent the file with Content-Encoding ${encoding}, though identity was asked for; its byte offsets are not the file's, so it cannot be resumed or checked: serve .mender files as they are (for nginx: no gzip for them)`,
    );
  }
  const etag = headers.get("etag");
  if (known.etag && etag && etag !== known.etag) {
    return refused(
      "SOURCE_CHANGED",
      `the file changed on the server (ETag ${known.etag} became ${etag}); start again`,
    );
  }
  if (asked.ranged && status === 206) {
    const match = contentRange.exec(headers.get("content-range") ?? "");
    const first = Number(match?.[1]);
    const last = Number(match?.[2]);
    const total = match?.[3] === "*" ? undefined : Number(match?.[3]);
    const stop = asked.stop;
    if (
      !match || first !== asked.offset || last < first ||
      (stop !== undefined && last !== stop - 1) ||
      (known.size !== undefined && total !== undefined && total !== known.size)
    ) {
      return refused(
        "SOURCE_RANGE",
        `asked for bytes ${asked.offset}-${
          stop !== undefined ? stop - 1 : ""
        }, it answered with Content-Range ${headers.get("content-range")}`,
      );
    }
    return { kind: "body", skip: 0, whole: false, size: total };
  }
  const unsatisfied = /^bytes \*\/(\d+)$/.exec(headers.get("content-range") ?? "");
  if (asked.ranged && status === 416 && Number(unsatisfied?.[1]) === asked.offset) {
    return { kind: "complete" }; // the file ends exactly where the bytes delivered end
  }
  if (status === 200) {
    const header = headers.get("content-length");
    const length = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
    if (known.size !== undefined && length !== undefined && length !== known.size) {
      return refused(
        "SOURCE_CHANGED",
        `it sends ${length} bytes, not the ${known.size} of the file; start again`,
      );
    }
    const modified = headers.get("last-modified");
    if (!known.etag && known.lastModified && modified && modified !== known.lastModified) {
      return refused(
        "SOURCE_CHANGED",
        `the file changed on the server (Last-Modified ${known.lastModified} became ${modified}); start again`,
      );
    }
    return { kind: "body", skip: asked.offset, whole: true, size: length };
  }
  return refused(
    "SOURCE_HTTP",
    `the server answered ${describeStatus(response)}${asked.ranged ? " to a range request" : ""}`,
  );
}

/** Completes `known` from the first answer whose body is used. */
export function learnValidators(
  known: Validators,
  headers: Headers,
  size: number | undefined,
): void {
  const etag = headers.get("etag");
  const modified = headers.get("last-modified");
  if (etag && !etag.startsWith("W/")) known.etag ??= etag;
  if (modified) known.lastModified ??= modified;
  known.size ??= size;
}
