/** How the one body judges each answer before using a byte of it (src/http/answer.ts). */
import { assertEquals } from "../helpers/assert.ts";
import { type Asked, judgeAnswer, type Verdict } from "../../src/http/answer.ts";

function answer(status: number, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 || status === 304 ? null : "", { status, headers });
}

/** The verdict without its error object: kind and code. */
function judged(response: Response, asked: Partial<Asked> = {}): string {
  const verdict: Verdict = judgeAnswer(response, {
    offset: 0,
    ranged: false,
    validators: {},
    ...asked,
  });
  return "cause" in verdict && verdict.kind !== "busy"
    ? `${verdict.kind} ${verdict.cause.code}`
    : verdict.kind === "body"
    ? `body skip=${verdict.skip} whole=${verdict.whole} size=${verdict.size}`
    : verdict.kind;
}

const resume = { offset: 100, stop: 1000, ranged: true, validators: { etag: '"a"', size: 1000 } };

Deno.test("resume answers: the exact range, the whole file again, the end, or refused", () => {
  const range = (value: string, extra: Record<string, string> = {}) =>
    answer(206, { "content-range": value, etag: '"a"', ...extra });
  assertEquals(judged(range("bytes 100-999/1000"), resume), "body skip=0 whole=false size=1000");
  assertEquals(judged(range("bytes 100-999/*"), resume), "body skip=0 whole=false size=undefined");
  for (const wrong of ["bytes 99-999/1000", "bytes 100-998/1000", "bytes 100-999/2000", "", "x"]) {
    assertEquals(judged(range(wrong), resume), "refused SOURCE_RANGE", wrong);
  }
  assertEquals(
    judged(range("bytes 100-999/1000", { etag: '"b"' }), resume),
    "refused SOURCE_CHANGED",
  );
  assertEquals(
    judged(answer(200, { etag: '"a"', "content-length": "1000" }), resume),
    "body skip=100 whole=true size=1000",
  );
  assertEquals(
    judged(answer(200, { "content-length": "999" }), resume),
    "refused SOURCE_CHANGED",
  );
  assertEquals(
    judged(answer(416, { "content-range": "bytes */100" }), { ...resume, stop: undefined }),
    "complete",
  );
  assertEquals(
    judged(answer(416, { "content-range": "bytes */1000" }), resume),
    "refused SOURCE_HTTP",
  );
});

Deno.test("first answers: encoding, dates, busy and failing servers", () => {
  assertEquals(judged(answer(200, { "content-encoding": "gzip" })), "refused SOURCE_ENCODING");
  assertEquals(judged(answer(200, { "content-encoding": "br" })), "refused SOURCE_ENCODING");
  assertEquals(
    judged(answer(200, { "content-encoding": "identity" })),
    "body skip=0 whole=true size=undefined",
  );
  const dated = { validators: { lastModified: "Mon, 01 Jan 2026 00:00:00 GMT" } };
  assertEquals(
    judged(answer(200, { "last-modified": "Tue, 02 Jan 2026 00:00:00 GMT" }), dated),
    "refused SOURCE_CHANGED",
  );
  assertEquals(judged(answer(503, { "retry-after": "7" })), "busy");
  assertEquals(judged(answer(429)), "busy");
  assertEquals(judged(answer(502)), "failed SOURCE_DOWNLOAD");
  assertEquals(judged(answer(404)), "refused SOURCE_HTTP");
  assertEquals(judged(answer(206, { "content-range": "bytes 0-9/10" })), "refused SOURCE_HTTP");
  const busy = judgeAnswer(answer(503, { "retry-after": "7" }), {
    offset: 0,
    ranged: false,
    validators: {},
  });
  assertEquals(busy.kind === "busy" && busy.retryAfterSeconds, 7);
});
