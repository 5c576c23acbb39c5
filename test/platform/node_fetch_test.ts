/**
 * The Node fetch of platform.ts, run here under Deno's node:https: an extra trusted CA,
 * SkipVerify, a CONNECT tunnel for https and absolute-form requests for http through a proxy,
 * redirects, and a body that arrives whole. The e2e suites run it on real Node.
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { connectProxy } from "../helpers/connect_proxy.ts";
import { faultServer } from "../helpers/http_faults.ts";
import { nodeFetch } from "../../src/platform/node_fetch.ts";
import { pseudoRandomBytes, sh, tempDir } from "../helpers/mod.ts";

Deno.test("node fetch: trusted CA, SkipVerify, CONNECT tunnel, redirects", async () => {
  await using dir = await tempDir();
  await sh([
    ..."openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1".split(" "),
    ...["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", `${dir.path}/key.pem`],
    ...["-out", `${dir.path}/cert.pem`],
  ]);
  const ca = await Deno.readTextFile(`${dir.path}/cert.pem`);
  const bytes = pseudoRandomBytes(500_000, 9);
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      cert: ca,
      key: await Deno.readTextFile(`${dir.path}/key.pem`),
      onListen() {},
    },
    (request) =>
      new URL(request.url).pathname === "/moved"
        ? Response.redirect(new URL("/file", request.url), 302)
        : new Response(bytes as Uint8Array<ArrayBuffer>),
  );
  await using proxy = await connectProxy();
  try {
    const url = `https://127.0.0.1:${server.addr.port}/moved`;
    await assertRejects(() => nodeFetch({})(url));
    const trusted = await nodeFetch({ ca })(url);
    assertEquals(trusted.status, 200);
    assertEquals(new Uint8Array(await trusted.arrayBuffer()), bytes);
    const tunnelled = await nodeFetch({ ca, proxy: `http://127.0.0.1:${proxy.port}` })(url);
    assertEquals(new Uint8Array(await tunnelled.arrayBuffer()), bytes);
    // the redirect and its target, each through its own tunnel
    assertEquals(proxy.tunnels.length, 2);
    await assertRejects(() => nodeFetch({ proxy: `http://127.0.0.1:${proxy.port}` })(url));
    const skipping = await nodeFetch({ insecure: true })(url);
    assertEquals((await skipping.arrayBuffer()).byteLength, bytes.length);
  } finally {
    await server.shutdown();
  }
});

Deno.test("node fetch: an http URL through a proxy goes in absolute form; an abort ends it", async () => {
  const bytes = pseudoRandomBytes(100_000, 4);
  await using origin = await faultServer(bytes);
  await using proxy = await faultServer(bytes);
  const via = nodeFetch({ proxy: `http://127.0.0.1:${proxy.port}` });
  const response = await via(origin.url(), { headers: { range: "bytes=10-" } });
  assertEquals(new Uint8Array(await response.arrayBuffer()), bytes.slice(10));
  assertEquals(proxy.requests[0]?.line, `GET ${origin.url()} HTTP/1.1`);
  assertEquals(proxy.requests[0]?.headers.range, "bytes=10-");
  assertEquals(origin.requests.length, 0);
  const controller = new AbortController();
  controller.abort();
  const error = await assertRejects(() => via(origin.url(), { signal: controller.signal }));
  assert((error as Error).name === "AbortError", String(error));
});
