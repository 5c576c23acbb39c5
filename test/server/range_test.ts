/** Range, If-Range, If-None-Match and the token check, as pure functions. */
import { assert, assertEquals } from "../helpers/assert.ts";
import { parseRange } from "../../src/server/range.ts";
import { etagFor, notModified, rangeStillValid } from "../../src/server/conditional.ts";
import { bearerMatches } from "../../src/server/auth.ts";
import { formatAccess } from "../../src/server/access_log.ts";

Deno.test("single ranges: closed, open, suffix, clamped", () => {
  assertEquals(parseRange("bytes=0-9", 100), { kind: "partial", start: 0, end: 10 });
  assertEquals(parseRange("bytes=90-", 100), { kind: "partial", start: 90, end: 100 });
  assertEquals(parseRange("bytes=-10", 100), { kind: "partial", start: 90, end: 100 });
  assertEquals(parseRange("bytes=-1000", 100), { kind: "partial", start: 0, end: 100 });
  assertEquals(parseRange("bytes=50-5000", 100), { kind: "partial", start: 50, end: 100 });
  assertEquals(parseRange("bytes=99-99", 100), { kind: "partial", start: 99, end: 100 });
  assertEquals(parseRange(" BYTES = 1-2 ", 100), { kind: "partial", start: 1, end: 3 });
});

Deno.test("unsatisfiable ranges answer 416", () => {
  assertEquals(parseRange("bytes=100-", 100), { kind: "unsatisfiable" });
  assertEquals(parseRange("bytes=100-200", 100), { kind: "unsatisfiable" });
  assertEquals(parseRange("bytes=-0", 100), { kind: "unsatisfiable" });
  assertEquals(parseRange("bytes=9999999999999999-", 100), { kind: "unsatisfiable" });
});

Deno.test("several ranges are refused as a whole", () => {
  assertEquals(parseRange("bytes=0-1,5-6", 100), { kind: "multiple" });
  assertEquals(parseRange("bytes=0-1, -5", 100), { kind: "multiple" });
  assertEquals(parseRange(`bytes=${"0-1,".repeat(5000)}0-1`, 100), { kind: "multiple" });
});

Deno.test("malformed Range headers are ignored: the whole file", () => {
  for (
    const header of [
      "",
      "bytes",
      "bytes=",
      "bytes=-",
      "bytes=abc",
      "bytes=5-2",
      "bytes=1-2-3",
      "bytes=0x10-",
      "bytes=1.5-",
      "items=0-5",
      "bytes=99999999999999999999-",
      "bytes=\u0000-1",
      "bytes=0-1,x",
      "x".repeat(100_000),
    ]
  ) {
    assertEquals(parseRange(header, 100), { kind: "full" }, JSON.stringify(header.slice(0, 40)));
  }
  assertEquals(parseRange(null, 100), { kind: "full" });
});

Deno.test("If-None-Match and If-Range", () => {
  const etag = etagFor("ab".repeat(32));
  assert(notModified(etag, etag));
  assert(notModified(`"x", W/${etag}`, etag));
  assert(notModified("*", etag));
  assert(!notModified('"other"', etag));
  assert(!notModified(null, etag));
  const date = "Mon, 23 Nov 2026 12:00:00 GMT";
  assert(rangeStillValid(null, etag, date));
  assert(rangeStillValid(etag, etag, date));
  assert(rangeStillValid(date, etag, date));
  assert(!rangeStillValid('"other"', etag, date));
  assert(!rangeStillValid(`W/${etag}`, etag, date));
  assert(!rangeStillValid("Tue, 24 Nov 2026 12:00:00 GMT", etag, date));
});

Deno.test("bearer token check", () => {
  assert(bearerMatches("Bearer s3cret-token", "s3cret-token"));
  assert(bearerMatches("bearer   s3cret-token", "s3cret-token"));
  assert(!bearerMatches("Bearer s3cret-toke", "s3cret-token"));
  assert(!bearerMatches("Bearer s3cret-token2", "s3cret-token"));
  assert(!bearerMatches("Basic s3cret-token", "s3cret-token"));
  assert(!bearerMatches(null, "s3cret-token"));
  assert(!bearerMatches("Bearer ", "s3cret-token"));
});

Deno.test("access log lines cannot be forged through the path", () => {
  const line = formatAccess({
    remote: "10.0.0.2",
    method: "GET",
    path: '/a\r\n2026 forged "GET /x" 200',
    status: 404,
    bytes: 0,
    ms: 1,
  });
  assert(!line.includes("\n") && !line.includes("\r"), line);
  assert(line.includes("\\x0d\\x0a"), line);
});
