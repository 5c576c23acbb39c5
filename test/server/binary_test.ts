/**
 * The shipped binary (node:http under Bun, behind platform.ts) under bad input: huge headers, slow
 * clients, malformed ranges, path tricks; then TLS (a certificate made with openssl, checked
 * by curl and by `ota peers`), --token-file, --help, and a clean stop on SIGTERM.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { ota, run, sh } from "../helpers/mod.ts";
import { menderArtifact } from "./fixture.ts";
import { get, rawRequest } from "./raw_http.ts";
import { startServe } from "./process.ts";

const work = await Deno.makeTempDir({ prefix: "ota-serve-bin-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
const dir = `${work}/srv`;
await Deno.mkdir(dir);
const artifact = await menderArtifact(dir, "release-2", "board-a", 400_000);
const bytes = await Deno.readFile(artifact);

async function whenListed(url: string, headers: Record<string, string> = {}, init = {}) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const response = await fetch(`${url}/artifacts`, { headers, ...init }).catch(() => undefined);
    const body = response ? await response.json().catch(() => undefined) : undefined;
    if (body?.artifacts?.some((a: { valid: boolean }) => a.valid)) return body;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the artifact was never listed");
}

Deno.test("serve and peers --help teach with examples", async () => {
  for (const command of [["serve"], ["peers"], ["peers", "fetch"]]) {
    const help = await ota([...command, "--help"]);
    assertEquals(help.code, 0);
    assertStringIncludes(help.stdout, "Examples:");
    assertStringIncludes(help.stdout, `ota ${command.join(" ")}`);
  }
  const bad = await ota(["serve", "--tls-cert", "x.pem", dir]);
  assertEquals(bad.code, 1);
  assertMatch(bad.stderr, /--tls-cert and --tls-key go together \[BAD_ARGUMENTS\]/);
  const missing = await ota(["serve", "--no-announce", `${work}/nope`]);
  assertEquals(missing.code, 1);
  assertMatch(missing.stderr, /\[SERVE_DIR\]/);
});

Deno.test("bad input against the binary: the server answers and stays up", async () => {
  const server = await startServe(["--host", "127.0.0.1", "--port", "0", "--no-announce", dir]);
  try {
    await whenListed(server.url);
    const port = server.port;
    const huge = await rawRequest(port, get("/artifacts", `X-Big: ${"a".repeat(200_000)}`));
    assert(huge.status === 431 || huge.status === 400 || huge.status === 0, `${huge.status}`);
    const manyHeaders = await rawRequest(
      port,
      get("/artifacts", ...Array.from({ length: 2000 }, (_, i) => `X-H${i}: v`)),
    );
    assert(manyHeaders.status !== 200, `2000 headers: ${manyHeaders.status}`);
    for (
      const range of [
        "bytes=abc",
        "bytes=-",
        `bytes=${"9".repeat(40)}-`,
        `bytes=${"0-1,".repeat(3000)}0-1`,
        "bytes=\u00ff\u00fe-1",
        "bytes=0-0, 0-0",
      ]
    ) {
      const response = await rawRequest(
        port,
        get("/artifacts/release-2.mender", `Range: ${range}`),
      );
      assert(
        [200, 206, 400, 416, 431].includes(response.status),
        `${range.slice(0, 30)}: ${response.status}`,
      );
    }
    for (
      const path of [
        "/artifacts/..%2f..%2fetc%2fpasswd",
        "/artifacts/%252e%252e%252fetc%252fpasswd",
        "/artifacts/release-2.mender%00",
        "/artifacts/.%2e/.%2e/etc/passwd",
        "/artifacts/../../etc/passwd",
      ]
    ) {
      const response = await rawRequest(port, get(path));
      assert(response.status === 404 || response.status === 400, `${path}: ${response.status}`);
      assert(!new TextDecoder().decode(response.body).includes("root:"), path);
    }
    // Slow clients: twenty connections that never finish their headers.
    const slow = await Promise.all(
      Array.from({ length: 20 }, () => Deno.connect({ hostname: "127.0.0.1", port })),
    );
    for (const conn of slow) {
      await conn.write(new TextEncoder().encode("GET /artifacts HTTP/1.1\r\nHost: x\r\n"));
    }
    const meanwhile = await fetch(`${server.url}/artifacts/release-2.mender`, {
      headers: { range: "bytes=0-99" },
    });
    assertEquals(meanwhile.status, 206);
    assertEquals(new Uint8Array(await meanwhile.arrayBuffer()), bytes.slice(0, 100));
    // The server drops them by itself (its header timeout), well within a minute.
    const closed = await Promise.all(slow.map(async (conn) => {
      const deadline = Date.now() + 60_000;
      const buffer = new Uint8Array(1024);
      while (Date.now() < deadline) {
        try {
          await conn.write(new TextEncoder().encode("X-Slow: 1\r\n"));
          const n = await Promise.race([
            conn.read(buffer),
            new Promise<number>((r) => setTimeout(() => r(-1), 2000)),
          ]);
          if (n === null) return true;
        } catch {
          return true;
        }
      }
      return false;
    }));
    for (const conn of slow) {
      try {
        conn.close();
      } catch { /* closed by the server */ }
    }
    assert(closed.every(Boolean), "slow connections were never closed");
    const after = await fetch(`${server.url}/artifacts/release-2.mender`);
    assertEquals(new Uint8Array(await after.arrayBuffer()), bytes);
  } finally {
    assertEquals(await server.stop(), 0);
  }
  assertMatch(server.output(), /"GET \/artifacts\/release-2.mender" 206 100 range=0-99\//);
});

Deno.test("TLS and --token-file: curl and ota peers get through, others do not", async () => {
  const cert = `${work}/cert.pem`;
  const key = `${work}/key.pem`;
  await sh([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout",
    key,
    "-out",
    cert,
  ]);
  const tokenFile = `${work}/token`;
  await Deno.writeTextFile(tokenFile, "lan-update-token-1\n");
  const server = await startServe([
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--no-announce",
    "--tls-cert",
    cert,
    "--tls-key",
    key,
    "--token-file",
    tokenFile,
    dir,
  ]);
  try {
    assertMatch(server.url, /^https:/);
    const url = `${server.url}/artifacts/release-2.mender`;
    const deadline = Date.now() + 20_000;
    let code = "";
    while (Date.now() < deadline && code !== "206") {
      code = (await run([
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--cacert",
        cert,
        "-H",
        "Authorization: Bearer lan-update-token-1",
        "-r",
        "0-9",
        url,
      ])).stdout;
      if (code !== "206") await new Promise((r) => setTimeout(r, 200));
    }
    assertEquals(code, "206");
    const denied = await run([
      "curl",
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "--cacert",
      cert,
      url,
    ]);
    assertEquals(denied.stdout, "401");
    const untrusted = await run(["curl", "-s", "-o", "/dev/null", url]);
    assert(untrusted.code !== 0, "curl must refuse the self-signed certificate without --cacert");
    const peers = await ota([
      "peers",
      "--peer",
      server.url,
      "--wait",
      "0",
      "--device-type",
      "board-a",
      "--ca",
      cert,
      "--token-file",
      tokenFile,
      "--json",
    ]);
    assertEquals(peers.code, 0, peers.stderr);
    const listed = JSON.parse(peers.stdout);
    assertEquals(listed.offers.length, 1);
    assertEquals(listed.offers[0].reasons, []);
    const noToken = await ota([
      "peers",
      "--peer",
      server.url,
      "--wait",
      "0",
      "--device-type",
      "board-a",
      "--ca",
      cert,
    ]);
    assertMatch(noToken.stdout, /unreachable: HTTP 401 \(needs --token\)/);
  } finally {
    assertEquals(await server.stop(), 0);
  }
});
