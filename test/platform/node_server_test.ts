/**
 * The Node server of platform.ts (dist/ota.js, the armv7 executable), run here under Deno's
 * node:http: the limits it applies itself (body cap, header count) and exact file sending.
 * The e2e suites run it on real Node through OTA_TEST_BUILD=js.
 */
import { assertEquals } from "../helpers/assert.ts";
import { serveNode } from "../../src/platform/node_server.ts";
import { fileResponse } from "../../src/platform.ts";
import { pseudoRandomBytes, tempDir } from "../helpers/mod.ts";
import { get, rawRequest } from "../server/raw_http.ts";

Deno.test("node server: ranges with exact lengths, 413 over the body cap, 431 for 101 headers", async () => {
  await using dir = await tempDir();
  const bytes = pseudoRandomBytes(300_000, 5);
  await Deno.writeFile(`${dir.path}/file`, bytes);
  let seen = 0;
  const server = await serveNode(async (request) => {
    seen++;
    const body = request.body ? new Uint8Array(await request.arrayBuffer()).length : 0;
    if (new URL(request.url).pathname === "/echo") return new Response(`${body}`);
    return fileResponse(`${dir.path}/file`, {
      start: 1000,
      end: 201_000,
      status: 206,
      headers: new Headers({ "content-type": "application/octet-stream" }),
    });
  }, { hostname: "127.0.0.1", port: 0, idleTimeoutSeconds: 5, maxRequestBodyBytes: 1024 });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const file = await fetch(`${base}/file`);
    assertEquals(file.status, 206);
    assertEquals(file.headers.get("content-length"), "200000");
    assertEquals(new Uint8Array(await file.arrayBuffer()), bytes.slice(1000, 201_000));
    const small = await fetch(`${base}/echo`, { method: "POST", body: "x".repeat(1024) });
    assertEquals(await small.text(), "1024");
    const before = seen;
    const big = await fetch(`${base}/echo`, { method: "POST", body: "x".repeat(1025) });
    assertEquals(big.status, 413);
    await big.body?.cancel();
    const headers = Array.from({ length: 101 }, (_, i) => `X-H${i}: v`);
    assertEquals((await rawRequest(server.port, get("/echo", ...headers))).status, 431);
    assertEquals(seen, before, "refused requests never reach the handler");
    assertEquals(server.activeRequests(), 0);
  } finally {
    await server.close();
  }
});
