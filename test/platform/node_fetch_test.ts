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

Deno.test("node fetch: a signed POST body arrives byte for byte, with a client certificate", async () => {
  await using dir = await tempDir();
  const make = (name: string) =>
    sh([
      ..."openssl req -x509 -newkey rsa:2048 -nodes -days 2".split(" "),
      ...["-subj", `/CN=${name}`, "-addext", "subjectAltName=IP:127.0.0.1"],
      ...["-keyout", `${dir.path}/${name}.key`, "-out", `${dir.path}/${name}.pem`],
    ]);
  await make("server");
  await make("device");
  const read = (name: string) => Deno.readTextFile(`${dir.path}/${name}`);
  const [serverCert, serverKey, deviceCert, deviceKey] = await Promise.all(
    ["server.pem", "server.key", "device.pem", "device.key"].map(read),
  );
  const seen: { method?: string; length?: string; body: Uint8Array; authorized: boolean }[] = [];
  const { createServer } = await import("node:https");
  const server = createServer({
    cert: serverCert,
    key: serverKey,
    ca: deviceCert,
    requestCert: true,
    rejectUnauthorized: true,
  }, (request, response) => {
    const chunks: Uint8Array[] = [];
    request.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    request.on("end", () => {
      seen.push({
        method: request.method,
        length: request.headers["content-length"],
        body: new Uint8Array(chunks.flatMap((c) => [...c])),
        // deno-lint-ignore no-explicit-any
        authorized: (request.socket as any).authorized === true,
      });
      response.writeHead(200, { "content-type": "application/jwt" }).end("token");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const body = new TextEncoder().encode('{"id_data":"{\\"mac\\":\\"00:11\\"}"}\n');
    const url = `https://127.0.0.1:${port}/api/devices/v1/authentication/auth_requests`;
    await assertRejects(() => nodeFetch({ ca: serverCert })(url, { method: "POST", body }));
    const response = await nodeFetch({ ca: serverCert, cert: deviceCert, key: deviceKey })(url, {
      method: "POST",
      body,
    });
    assertEquals(await response.text(), "token");
    const last = seen.at(-1);
    assertEquals(last?.method, "POST");
    assertEquals(last?.length, String(body.byteLength));
    assertEquals(last?.body, body);
    assert(last?.authorized, "the server saw the device's certificate");
    const put = await nodeFetch({ ca: serverCert, cert: deviceCert, key: deviceKey })(url, {
      method: "PUT",
      body: '{"status":"installing"}',
    });
    await put.body?.cancel();
    assertEquals(new TextDecoder().decode(seen.at(-1)?.body), '{"status":"installing"}');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
