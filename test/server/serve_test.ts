/**
 * The server in-process under Deno (Deno.serve through platform.ts), over real HTTP:
 * listing and verification of what lies in the directory, Range and conditional downloads,
 * the token, path tricks, files that change or are still being copied, the transfer bound.
 */
import { assert, assertEquals, assertMatch, defined, xorAt } from "../helpers/assert.ts";
import { sha256File } from "../helpers/mod.ts";
import { startServer } from "../../src/server/run.ts";
import type { Listing } from "../../src/server/listing.ts";
import { eventually, flipByte, menderArtifact } from "./fixture.ts";
import { get, rawRequest } from "./raw_http.ts";

const work = await Deno.makeTempDir({ prefix: "ota-serve-" });
const dir = `${work}/srv`;
await Deno.mkdir(dir);
const outside = `${work}/outside.mender`;
const good = await menderArtifact(dir, "release-2", "board-a", 300_000);
await menderArtifact(work, "outside", "board-a", 1000);
await menderArtifact(dir, "corrupt", "board-a", 300_000);
// Large enough that a transfer stays open while its client does not read.
await menderArtifact(dir, "big", "board-a", 48 * 1024 * 1024);
await flipByte(`${dir}/corrupt.mender`);
await Deno.writeTextFile(`${dir}/not-an-artifact.mender`, "hello, I am text\n".repeat(100));
await Deno.writeTextFile(`${dir}/notes.txt`, "not listed");
await Deno.copyFile(good, `${dir}/.hidden.mender`);
await Deno.symlink(outside, `${dir}/escape.mender`);
await Deno.symlink("release-2.mender", `${dir}/link.mender`);
await Deno.mkdir(`${dir}/sub.mender`);
const logs: string[] = [];
const server = await startServer({
  dir,
  host: "127.0.0.1",
  port: 0,
  announce: false,
  rescanMs: 200,
  quietMs: 300,
  token: undefined,
  maxTransfers: 2,
  log: (line) => logs.push(line),
});
const base = server.url;
const goodBytes = await Deno.readFile(good);
const sha = await sha256File(good);

async function listing(): Promise<Listing> {
  return await (await fetch(`${base}/artifacts`)).json();
}
const listed = await eventually(
  async () => {
    const l = await listing();
    return l.artifacts.length >= 5 && l.pending === 0 ? l : undefined;
  },
  20_000,
  "the first listing",
);

globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));

Deno.test({
  name: "listing: valid, invalid and never-listed files",
  sanitizeOps: false,
  sanitizeResources: false,
  fn() {
    const byFile = Object.fromEntries(listed.artifacts.map((a) => [a.file, a]));
    assertEquals(Object.keys(byFile).sort(), [
      "big.mender",
      "corrupt.mender",
      "link.mender",
      "not-an-artifact.mender",
      "release-2.mender",
    ]);
    const entry = (file: string) => defined(byFile[file], `the listing of ${file}`);
    const release = entry("release-2.mender");
    assert(release.valid);
    assertEquals(release.sha256, sha);
    assertEquals(release.size, goodBytes.byteLength);
    assertEquals(release.artifact?.name, "release-2");
    assertEquals(release.artifact?.deviceTypes, ["board-a"]);
    assertEquals(release.artifact?.payloadTypes, ["rootfs-image"]);
    assertEquals(release.artifact?.provides.artifact_name, "release-2");
    assertEquals(release.artifact?.signed, false);
    assert(entry("link.mender").valid, "a symlink inside the directory is served");
    assertEquals(entry("corrupt.mender").valid, false);
    assertEquals(entry("corrupt.mender").artifact, undefined);
    assertMatch(entry("corrupt.mender").error!.code, /CHECKSUM|CORRUPT|TRUNCATED|MISMATCH/);
    assertEquals(entry("not-an-artifact.mender").valid, false);
  },
});

Deno.test({
  name: "downloads: 200, 206 for each range form, HEAD, 416, ignored malformed ranges",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const url = `${base}/artifacts/release-2.mender`;
    const full = await fetch(url);
    assertEquals(full.status, 200);
    assertEquals(full.headers.get("content-length"), String(goodBytes.byteLength));
    assertEquals(full.headers.get("etag"), `"${sha}"`);
    assertEquals(full.headers.get("accept-ranges"), "bytes");
    assertEquals(new Uint8Array(await full.arrayBuffer()), goodBytes);
    const size = goodBytes.byteLength;
    const cases: [string, number, number][] = [
      ["bytes=0-0", 0, 1],
      ["bytes=1000-1999", 1000, 2000],
      ["bytes=5000-", 5000, size],
      ["bytes=-777", size - 777, size],
      [`bytes=${size - 1}-${size + 1000}`, size - 1, size],
    ];
    for (const [range, start, end] of cases) {
      const response = await fetch(url, { headers: { range } });
      assertEquals(response.status, 206, range);
      assertEquals(response.headers.get("content-range"), `bytes ${start}-${end - 1}/${size}`);
      assertEquals(response.headers.get("content-length"), String(end - start));
      assertEquals(
        new Uint8Array(await response.arrayBuffer()),
        goodBytes.slice(start, end),
        range,
      );
    }
    const head = await fetch(url, { method: "HEAD", headers: { range: "bytes=10-19" } });
    assertEquals(head.status, 206);
    assertEquals(head.headers.get("content-length"), "10");
    for (const range of [`bytes=${size}-`, "bytes=-0", "bytes=0-1,4-5"]) {
      const response = await fetch(url, { headers: { range } });
      assertEquals(response.status, 416, range);
      assertEquals(response.headers.get("content-range"), `bytes */${size}`);
      await response.body?.cancel();
    }
    for (const range of ["bytes=abc", "bytes=9-1", "pages=1-2", "bytes=--1", "bytes=1-2-3"]) {
      const response = await fetch(url, { headers: { range } });
      assertEquals(response.status, 200, range);
      assertEquals((await response.arrayBuffer()).byteLength, size);
    }
  },
});

Deno.test({
  name: "conditional requests: 304 on the ETag, If-Range only continues the same file",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const url = `${base}/artifacts/release-2.mender`;
    const same = await fetch(url, { headers: { "if-none-match": `"${sha}"` } });
    assertEquals(same.status, 304);
    assertEquals(same.headers.get("etag"), `"${sha}"`);
    await same.body?.cancel();
    const resume = await fetch(url, { headers: { range: "bytes=100-", "if-range": `"${sha}"` } });
    assertEquals(resume.status, 206);
    await resume.body?.cancel();
    const changed = await fetch(url, { headers: { range: "bytes=100-", "if-range": '"f00"' } });
    assertEquals(changed.status, 200);
    assertEquals((await changed.arrayBuffer()).byteLength, goodBytes.byteLength);
  },
});

Deno.test({
  name: "only listed valid artifacts are served; path tricks get 404 and the server stays up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const port = server.port;
    for (
      const path of [
        "/artifacts/corrupt.mender",
        "/artifacts/not-an-artifact.mender",
        "/artifacts/notes.txt",
        "/artifacts/.hidden.mender",
        "/artifacts/escape.mender",
        "/artifacts/sub.mender",
        "/artifacts/..%2foutside.mender",
        "/artifacts/%2e%2e%2foutside.mender",
        "/artifacts/%252e%252e%252foutside.mender",
        "/artifacts/..%252foutside.mender",
        "/artifacts/release-2.mender%00",
        "/artifacts/release-2.mender%00.txt",
        "/artifacts/%00",
        "/artifacts/release-2.mender/",
        "/artifacts/./release-2.mender%2f..%2f..%2fouts",
        "/artifacts/%2fetc%2fpasswd",
        "/artifacts/..\\outside.mender",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/etc/passwd",
      ]
    ) {
      const response = await rawRequest(port, get(path));
      assertEquals(response.status, 404, path);
    }
    // The URL parser folds dot segments; what remains must still not escape.
    const folded = await rawRequest(port, get("/artifacts/../../../../etc/passwd"));
    assertEquals(folded.status, 404);
    const nul = await rawRequest(port, "GET /artifacts/\u0000 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert(nul.status === 400 || nul.status === 404 || nul.status === 0, `NUL: ${nul.status}`);
    const ok = await rawRequest(port, get("/artifacts/release-2.mender", "Range: bytes=0-3"));
    assertEquals(ok.status, 206);
    assertEquals(ok.body, goodBytes.slice(0, 4));
  },
});

Deno.test({
  name: "read only, no bodies, bounded URLs",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const response = await fetch(`${base}/artifacts/release-2.mender`, { method, body: "x" });
      assertEquals(response.status, 405, method);
      assertEquals(response.headers.get("allow"), "GET, HEAD");
      await response.body?.cancel();
    }
    const withBody = await rawRequest(
      server.port,
      "GET /artifacts HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assertEquals(withBody.status, 413);
    const long = await fetch(`${base}/artifacts/${"a".repeat(3000)}`);
    assertEquals(long.status, 414);
    await long.body?.cancel();
  },
});

Deno.test({
  name: "the page for a browser, and one access-log line per request",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const page = await fetch(`${base}/artifacts`, { headers: { accept: "text/html" } });
    assertMatch(page.headers.get("content-type")!, /text\/html/);
    const html = await page.text();
    assertMatch(html, /release-2\.mender/);
    assertMatch(html, /invalid/);
    assertEquals((await fetch(`${base}/`)).headers.get("content-type"), "text/html; charset=utf-8");
    const before = logs.length;
    await (await fetch(`${base}/artifacts/release-2.mender`, { headers: { range: "bytes=0-9" } }))
      .arrayBuffer();
    const line = logs.slice(before).find((l) => l.includes("/artifacts/release-2.mender"))!;
    assertMatch(line, /127\.0\.0\.1 "GET \/artifacts\/release-2\.mender" 206 10 range=0-9\//);
  },
});

Deno.test({
  name: "a file being copied is listed only when complete; a changed file is not served",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const target = `${dir}/copying.mender`;
    const file = await Deno.open(target, { write: true, create: true });
    const half = Math.floor(goodBytes.byteLength / 2);
    await file.write(goodBytes.slice(0, half));
    // Keep "copying" slowly across several scans: it must never show up.
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 150));
      await file.write(goodBytes.slice(half + i * 100, half + (i + 1) * 100));
      const now = await listing();
      assert(!now.artifacts.some((a) => a.file === "copying.mender"), "listed while copying");
    }
    await file.write(goodBytes.slice(half + 1000));
    file.close();
    const entry = await eventually(
      async () => {
        const found = (await listing()).artifacts.find((a) => a.file === "copying.mender");
        return found?.valid ? found : undefined;
      },
      20_000,
      "copying.mender to be listed",
    );
    assertEquals(entry.sha256, sha);
    // Replace its content behind the server's back: it must not send unverified bytes.
    const other = new Uint8Array(goodBytes);
    xorAt(other, 1000, 1);
    await Deno.writeFile(target, other);
    const response = await fetch(`${base}/artifacts/copying.mender`);
    assert(response.status === 503 || response.status === 404, String(response.status));
    await response.body?.cancel();
  },
});

Deno.test({
  name: "concurrent transfers are bounded: the next one is told to retry",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const url = `${base}/artifacts/big.mender`;
    const held = [await fetch(url), await fetch(url)];
    const readers = held.map((r) => r.body!.getReader());
    await Promise.all(readers.map((r) => r.read()));
    const third = await fetch(url);
    assertEquals(third.status, 503);
    assertEquals(third.headers.get("retry-after"), "2");
    await third.body?.cancel();
    await Promise.all(readers.map((r) => r.cancel()));
    const after = await eventually(
      async () => {
        const response = await fetch(url, { headers: { range: "bytes=0-0" } });
        await response.body?.cancel();
        return response.status === 206 ? response : undefined;
      },
      5000,
      "a free transfer slot",
    );
    assertEquals(after.status, 206);
  },
});

Deno.test({
  name: "--token: 401 without it, in constant time, 200 with it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const locked = await startServer({
      dir,
      host: "127.0.0.1",
      port: 0,
      announce: false,
      token: "correct-horse-battery",
      rescanMs: 200,
      quietMs: 300,
    });
    try {
      for (const auth of [undefined, "Bearer wrong-token-value", "Basic Y29ycmVjdA==", "Bearer "]) {
        const response = await fetch(`${locked.url}/artifacts`, {
          headers: auth ? { authorization: auth } : {},
        });
        assertEquals(response.status, 401, String(auth));
        assertEquals(response.headers.get("www-authenticate"), 'Bearer realm="ota"');
        await response.body?.cancel();
      }
      const ok = await fetch(`${locked.url}/artifacts`, {
        headers: { authorization: "Bearer correct-horse-battery" },
      });
      assertEquals(ok.status, 200);
      await ok.body?.cancel();
    } finally {
      await locked.close();
    }
  },
});

Deno.test({
  name: "stop the shared server",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await server.close();
  },
});
