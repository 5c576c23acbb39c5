/**
 * Installing over HTTP with a server that misbehaves: dropped connections resume with Range,
 * a server that ignores Range, an ETag that changes, 416, every other request failing, a
 * stall, a one-byte-a-second trickle, a gzip Content-Encoding, a proxy, a private CA. Each
 * ends installed or with a clear error, never a hang.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes, at } from "../helpers/assert.ts";
import { connectProxy } from "../helpers/connect_proxy.ts";
import { type Faults, faultServer } from "../helpers/http_faults.ts";
import { OTA_COMMAND, run, sh } from "../helpers/mod.ts";
import { fixture } from "./fixture.ts";

const config = {
  RetryDownloadCount: 4,
  RetryDownloadMaxIntervalSeconds: 1,
  DownloadIdleTimeoutSeconds: 2,
  // one body for the whole artifact, request by request; the head read by byte ranges
  // first (adaptive updates) is held to the same faults in adaptive_http_test.ts
  AdaptiveUpdates: false,
};

async function installOver(faults: Faults) {
  const f = await fixture({ config });
  const artifact = await Deno.readFile(
    await f.rootfsArtifact("release-2", { extra: ["--compression", "none"] }),
  );
  const server = await faultServer(artifact, faults);
  const result = await f.ota("install", server.url());
  return { f, server, result, size: artifact.length };
}

Deno.test("http: a plain download installs", async () => {
  const { f, server, result } = await installOver({});
  await using _f = f, _s = server;
  assertEquals(result.code, 0, result.stderr);
  assertEquals(server.requests.length, 1);
  assertEquals((await f.boot()).slotId, "release-2 rootfs");
});

Deno.test("http: connections dropped three times resume with Range from the byte where they broke", async () => {
  const { f, server, result } = await installOver({ dropAfter: 3_000_000, dropTimes: 3 });
  await using _f = f, _s = server;
  assertEquals(result.code, 0, result.stderr);
  // each resume starts where the bytes that arrived end (a few may be lost with the connection)
  const starts = server.requests.map((r) =>
    Number(/^bytes=(\d+)-$/.exec(r.headers.range ?? "bytes=0-")![1])
  );
  assertEquals(starts.length, 4);
  for (let i = 1; i < starts.length; i++) {
    const [before, start] = [at(starts, i - 1), at(starts, i)];
    assert(
      start > before && start <= before + 3_000_000,
      `resume offsets ${starts}`,
    );
  }
  assert(server.requests.slice(1).every((r) => r.headers["if-range"] === '"v1"'));
  assertEquals((await f.boot()).slotId, "release-2 rootfs");
});

Deno.test("http: a server that ignores Range is read again from the start, skipping what arrived", async () => {
  const { f, server, result } = await installOver({
    dropAfter: 5_000_000,
    dropTimes: 1,
    ignoreRange: true,
  });
  await using _f = f, _s = server;
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(result.stderr, "does not resume");
  assertEquals((await f.boot()).slotId, "release-2 rootfs");
});

Deno.test("http: an ETag that changes mid-download stops it; nothing is switched", async () => {
  const { f, server, result } = await installOver({
    dropAfter: 4_000_000,
    dropTimes: 1,
    etagChangesAt: 2,
  });
  await using _f = f, _s = server;
  assertEquals(result.code, 1);
  assertStringIncludes(result.stderr, "[SOURCE_CHANGED]");
  assertEquals(await f.state(), {
    part: "2",
    upgrade: "0",
    booted: "2",
    artifact: "factory-image",
  });
});

Deno.test("http: 416 to the resume request ends with a clear error", async () => {
  const { f, server, result } = await installOver({
    dropAfter: 4_000_000,
    dropTimes: 1,
    rangeAnswer416: true,
  });
  await using _f = f, _s = server;
  assertEquals(result.code, 1);
  assertStringIncludes(result.stderr, "416");
  assertEquals((await f.env()).upgrade_available, "0");
});

Deno.test("http: a connection that always breaks gives up after RetryDownloadCount", async () => {
  const { f, server, result } = await installOver({ dropAfter: 1_000_000 });
  await using _f = f, _s = server;
  assertEquals(result.code, 1);
  assertStringIncludes(result.stderr, "[SOURCE_DOWNLOAD]");
  assertStringIncludes(result.stderr, "after 5 attempts");
  assertEquals(server.requests.length, 5);
  assertEquals((await f.env()).upgrade_available, "0");
});

Deno.test("http: every second request failing with 503 still installs", async () => {
  const { f, server, result } = await installOver({
    failEveryOther: true,
    dropAfter: 6_000_000,
    dropTimes: 1,
  });
  await using _f = f, _s = server;
  assertEquals(result.code, 0, result.stderr);
});

Deno.test("http: a stalled connection is abandoned after the idle timeout and resumed", async () => {
  const { f, server, result } = await installOver({
    dropAfter: 2_000_000,
    dropTimes: 1,
    stall: true,
  });
  await using _f = f, _s = server;
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(result.stderr, "no data for 2 s");
  assertEquals(at(server.requests, 1).headers.range, "bytes=2000000-");
});

Deno.test("http: a server that trickles a byte a second ends with SOURCE_TOO_SLOW, never a hang", async () => {
  await using f = await fixture({
    config: { ...config, RetryDownloadCount: 1, DownloadMinRateWindowSeconds: 2 },
  });
  const artifact = await Deno.readFile(
    await f.rootfsArtifact("release-2", { extra: ["--compression", "none"] }),
  );
  await using server = await faultServer(artifact, { trickleMs: 1000 });
  const started = Date.now();
  // `timeout` turns a hang into exit 124, so the test fails instead of waiting forever.
  const result = await run([
    "timeout",
    "60",
    ...OTA_COMMAND,
    "install",
    "--config",
    f.device.config,
    "--data",
    f.device.data,
    server.url(),
  ]);
  const seconds = (Date.now() - started) / 1000;
  assertEquals(result.code, 1, result.stderr);
  assertStringIncludes(result.stderr, "[SOURCE_TOO_SLOW]");
  assertMatch(result.stderr, /failed after 2 attempts at byte \d+: \d bytes\/s averaged over 2 s/);
  assertEquals(server.requests.length, 2);
  assert(seconds < 20, `took ${seconds} s`);
  assertEquals((await f.env()).upgrade_available, "0");
});

Deno.test("http: a gzip Content-Encoding is refused with SOURCE_ENCODING at the first answer", async () => {
  const { f, server, result } = await installOver({ gzip: true });
  await using _f = f, _s = server;
  assertEquals(result.code, 1);
  assertStringIncludes(result.stderr, "[SOURCE_ENCODING]");
  assertStringIncludes(result.stderr, "Content-Encoding gzip");
  assertEquals(server.requests.length, 1);
  assertEquals(at(server.requests, 0).headers["accept-encoding"], "identity");
  assertEquals((await f.env()).upgrade_available, "0");
});

Deno.test("http: 404 is reported with the status", async () => {
  const { f, server, result } = await installOver({ status: 404 });
  await using _f = f, _s = server;
  assertEquals(result.code, 1);
  assertStringIncludes(result.stderr, "[SOURCE_HTTP]");
  assertStringIncludes(result.stderr, "404");
});

Deno.test("http: HTTP_PROXY is used, and NO_PROXY bypasses it", async () => {
  await using f = await fixture({ config });
  const artifact = await Deno.readFile(await f.rootfsArtifact("release-2"));
  await using origin = await faultServer(artifact);
  await using proxy = await faultServer(artifact); // answers absolute-form requests with the same bytes
  const env = {
    ...Deno.env.toObject(),
    HTTP_PROXY: `http://127.0.0.1:${proxy.port}`,
    NO_PROXY: "example.invalid",
  };
  const { ota } = await import("../helpers/mod.ts");
  const args = ["--config", f.device.config, "--data", f.device.data];
  const viaProxy = await ota(["install", ...args, origin.url()], { env });
  assertEquals(viaProxy.code, 0, viaProxy.stderr);
  assertEquals(proxy.requests.length, 1);
  assertStringIncludes(
    at(proxy.requests, 0).line,
    `GET http://127.0.0.1:${origin.port}/artifact.mender`,
  );
  assertEquals(origin.requests.length, 0);
  await f.ota("rollback");
  const direct = await ota(["install", ...args, origin.url()], {
    env: { ...env, NO_PROXY: "127.0.0.1" },
  });
  assertEquals(direct.code, 0, direct.stderr);
  assertEquals(origin.requests.length, 1);
  assertEquals(proxy.requests.length, 1);
});

/** A self-signed certificate for 127.0.0.1, made with openssl, and an HTTPS server with it. */
async function httpsServer(dir: string, body: Uint8Array<ArrayBuffer>) {
  await sh([
    ..."openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1".split(" "),
    ...["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", `${dir}/key.pem`],
    ...["-out", `${dir}/cert.pem`],
  ]);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    key: await Deno.readTextFile(`${dir}/key.pem`),
    onListen() {},
  }, () => new Response(body));
  return { cert: `${dir}/cert.pem`, url: `https://127.0.0.1:${server.addr.port}/a.mender`, server };
}

Deno.test("https: a server certificate from ServerCertificate is trusted; without it the download fails", async () => {
  const dir = await Deno.makeTempDir();
  // the certificate file is made with the server, before the install reads it
  await using f = await fixture({ config: { ...config, ServerCertificate: `${dir}/cert.pem` } });
  const https = await httpsServer(dir, await Deno.readFile(await f.rootfsArtifact("release-2")));
  const trusted = await f.ota("install", https.url);
  assertEquals(trusted.code, 0, trusted.stderr);
  await f.ota("rollback");
  await using other = await fixture({ config });
  const untrusted = await other.ota("install", https.url);
  assertEquals(untrusted.code, 1);
  assertStringIncludes(untrusted.stderr, "[SOURCE_NETWORK]");
  await https.server.shutdown();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("https: through HTTPS_PROXY's CONNECT tunnel with the trusted certificate; SkipVerify without it", async () => {
  const dir = await Deno.makeTempDir();
  await using f = await fixture({ config });
  const https = await httpsServer(dir, await Deno.readFile(await f.rootfsArtifact("release-2")));
  await using proxy = await connectProxy();
  const { ota } = await import("../helpers/mod.ts");
  const env: Record<string, string> = {
    ...Deno.env.toObject(),
    HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`,
  };
  delete env.NO_PROXY, delete env.no_proxy;
  const args = ["--config", f.device.config, "--data", f.device.data];
  const untrusted = await ota(["install", ...args, https.url], { env });
  assertEquals(untrusted.code, 1, "the proxy must not make an unknown certificate trusted");
  const target = `127.0.0.1:${new URL(https.url).port}`;
  assert(proxy.tunnels.length > 0 && proxy.tunnels.every((t) => t === target), `${proxy.tunnels}`);
  const refusedTunnels = proxy.tunnels.length; // one per retry
  const device = JSON.parse(await Deno.readTextFile(f.device.config));
  await Deno.writeTextFile(
    f.device.config,
    JSON.stringify({ ...device, ServerCertificate: https.cert }),
  );
  const viaProxy = await ota(["install", ...args, https.url], { env });
  assertEquals(viaProxy.code, 0, viaProxy.stderr);
  assertEquals(proxy.tunnels.length, refusedTunnels + 1);
  await f.ota("rollback");
  await Deno.writeTextFile(f.device.config, JSON.stringify({ ...device, SkipVerify: true }));
  const skipping = await f.ota("install", https.url);
  assertEquals(skipping.code, 0, skipping.stderr);
  assertEquals(proxy.tunnels.length, refusedTunnels + 1, "no proxy in the environment: direct");
  await https.server.shutdown();
  await Deno.remove(dir, { recursive: true });
});
