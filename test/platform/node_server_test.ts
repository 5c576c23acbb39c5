/**
 * The node:http server behind `ota serve` (the Bun binary, dist/ota.js, the armv7 executable),
 * run here under Deno's node:http: file ranges under their exact Content-Length, and the
 * request limits it applies itself. The e2e suites run it on real Node through
 * OTA_TEST_BUILD=js and in the Bun binary.
 */
import { assertEquals } from "../helpers/assert.ts";
import { serveNode } from "../../src/node_http.ts";
import { readFileStream } from "../../src/files.ts";
import { pseudoRandomBytes, tempDir } from "../helpers/mod.ts";
import { get, rawRequest } from "../server/raw_http.ts";

Deno.test("node server: a range with its exact length; 431 for 101 headers, never handled", async () => {
  await using dir = await tempDir();
  const bytes = pseudoRandomBytes(300_000, 5);
  await Deno.writeFile(`${dir.path}/file`, bytes);
  let seen = 0;
  const server = await serveNode((request) => {
    seen++;
    if (new URL(request.url).pathname === "/echo") return new Response("ok");
    return new Response(readFileStream(`${dir.path}/file`, 1000, 200_000), {
      status: 206,
      headers: { "content-length": "200000", "content-type": "application/octet-stream" },
    });
  }, { hostname: "127.0.0.1", port: 0, idleTimeoutSeconds: 5 });
  try {
    const file = await fetch(`http://127.0.0.1:${server.port}/file`);
    assertEquals(file.status, 206);
    assertEquals(file.headers.get("content-length"), "200000");
    assertEquals(new Uint8Array(await file.arrayBuffer()), bytes.slice(1000, 201_000));
    const before = seen;
    const headers = Array.from({ length: 101 }, (_, i) => `X-H${i}: v`);
    assertEquals((await rawRequest(server.port, get("/echo", ...headers))).status, 431);
    assertEquals(seen, before, "the refused request never reached the handler");
    assertEquals((await rawRequest(server.port, get("/echo", ...headers.slice(10)))).status, 200);
    assertEquals(server.activeRequests(), 0);
  } finally {
    await server.close();
  }
});
