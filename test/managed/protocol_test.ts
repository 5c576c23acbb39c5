/**
 * The device protocol, in process, against the contract server: the key and the signed auth
 * request for each key type, re-authentication after a 401, a pending device, the next
 * deployment through v2 and the open-source fallbacks, inventory with PATCH after 405, status
 * reports and aborts, mutual TLS, and Mender's backoff schedule.
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { configSchema } from "../../src/device/config.ts";
import { createLogger } from "../../src/log.ts";
import { authRequestBody, createDeviceApi } from "../../src/managed/api.ts";
import { backoffSchedule } from "../../src/managed/backoff.ts";
import { nextDeployment, reportStatus } from "../../src/managed/deployments.ts";
import { goJson, identityJson, parseKeyValues } from "../../src/managed/identity.ts";
import { collectInventory, sendInventory } from "../../src/managed/inventory.ts";
import { loadDeviceKey } from "../../src/managed/key.ts";
import { assert, assertEquals, assertMatch, assertRejects, at } from "../helpers/assert.ts";
import { sh, tempDir } from "../helpers/mod.ts";
import { contractServer, type ServerOptions } from "./contract_server.ts";
import { makePki } from "./tls.ts";

const quiet = { write: () => true } as unknown as NodeJS.WriteStream;
const log = createLogger("error", quiet);
const device = { artifactName: "factory-1.0", deviceType: "ota-test-device", provides: {} };

async function setup(dir: string, server: ServerOptions = {}, conf: Record<string, unknown> = {}) {
  const srv = await contractServer(server);
  await Deno.writeTextFile(`${dir}/identity`, "#!/bin/sh\necho mac=02:00:00:00:00:0a\n", {
    mode: 0o755,
  });
  const config = configSchema.parse({
    ServerURL: srv.url,
    IdentityScript: `${dir}/identity`,
    TenantToken: "tenant-token-1",
    DeviceKeyType: "ed25519", // fast to make; the key tests cover all three
    ...conf,
  });
  const key = await loadDeviceKey(config, dir);
  const api = await createDeviceApi({ config, key, log, env: {} });
  return { srv, config, key, api };
}

for (const type of ["rsa", "ecdsa", "ed25519"] as const) {
  Deno.test(`device key ${type}: made once with mode 0600, signs the exact auth request bytes`, async () => {
    await using dir = await tempDir();
    const { srv, api, key, config } = await setup(dir.path, {}, { DeviceKeyType: type });
    await using _ = srv;
    const path = `${dir.path}/mender-agent.pem`;
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    const pem = await Deno.readTextFile(path);
    const made = createPrivateKey(pem);
    assertEquals(made.asymmetricKeyType, type === "ecdsa" ? "ec" : type);
    if (type === "rsa") assertEquals(made.asymmetricKeyDetails?.modulusLength, 3072);
    assertEquals((await loadDeviceKey(config, dir.path)).publicPem, key.publicPem);
    assertEquals(await Deno.readTextFile(path), pem, "a second start keeps the key");

    await api.authenticate();
    const auth = at(srv.requests, 0);
    assertEquals(auth.problems, []);
    assertEquals(auth.signatureValid, true);
    assertEquals(auth.keyType, type);
    assertEquals(auth.bearer, "tenant");
    assertEquals(
      auth.text,
      authRequestBody('{"mac":"02:00:00:00:00:0a"}', "tenant-token-1", key.publicPem),
    );
    assertMatch(auth.text, /^\{"id_data":"\{\\"mac\\":\\"02:00:00:00:00:0a\\"\}","tenant_token":/);
    assert(auth.text.endsWith("}\n"), "Go's encoder ends the body with a newline");
    assertEquals(
      createPublicKey(key.publicPem).export({ type: "spki", format: "der" }),
      createPublicKey(made).export({ type: "spki", format: "der" }),
    );
  });
}

Deno.test("a key Mender 3.4 made (PKCS#1 PEM in mender-agent.pem) is used as it is", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/mender-agent.pem`;
  await sh(["openssl", "genrsa", "-traditional", "-out", path, "3072"]);
  const pem = await Deno.readTextFile(path);
  assertMatch(pem, /^-----BEGIN RSA PRIVATE KEY-----/);
  const key = await loadDeviceKey(configSchema.parse({}), dir.path);
  assertEquals(key.type, "rsa");
  assertEquals(
    key.publicPem,
    createPublicKey(pem).export({ type: "spki", format: "pem" }).toString(),
  );
  assertEquals(await Deno.readTextFile(path), pem, "the file is not rewritten");
});

Deno.test("a key that cannot be read is an error, never replaced", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/mender-agent.pem`, "not a key\n");
  const config = configSchema.parse({});
  const error = await assertRejects(() => loadDeviceKey(config, dir.path));
  assertMatch(error.message, /not a PEM private key/);
  assertEquals(await Deno.readTextFile(`${dir.path}/mender-agent.pem`), "not a key\n");
});

Deno.test("a 401 to an API call authenticates again once and repeats the call", async () => {
  await using dir = await tempDir();
  const { srv, api } = await setup(dir.path, {
    switches: { force401: [{ method: "PUT", path: /inventory/ }] },
  });
  await using _ = srv;
  await sendInventory(api, [{ name: "x", value: "1" }]);
  assertEquals(
    srv.requests.map((r) => `${r.method} ${r.path.split("/").pop()} ${r.status} ${r.bearer}`),
    [
      "POST auth_requests 200 tenant",
      "PUT attributes 401 device",
      "POST auth_requests 200 tenant",
      "PUT attributes 200 device",
    ],
  );
});

Deno.test("Servers: a server that cannot be reached is passed over for the next one", async () => {
  await using dir = await tempDir();
  const { srv } = await setup(dir.path);
  await using _ = srv;
  const config = configSchema.parse({
    Servers: [{ ServerURL: "http://127.0.0.1:9" }, { ServerURL: `${srv.url}/` }],
    IdentityScript: `${dir.path}/identity`,
    DeviceKeyType: "ed25519",
  });
  const failover = await createDeviceApi({
    config,
    key: await loadDeviceKey(config, dir.path),
    log,
    env: {},
  });
  assertEquals((await failover.call("PUT", "/v1/inventory/device/attributes", "[]")).status, 200);
  assertEquals(failover.server(), srv.url);
});

Deno.test("a pending device gets AUTH_PENDING; once accepted it authenticates", async () => {
  await using dir = await tempDir();
  const { srv, api } = await setup(dir.path, { switches: { pendingAuths: 2 } });
  await using _ = srv;
  for (let i = 0; i < 2; i++) {
    const error = await assertRejects(() => api.call("GET", "/v1/x"));
    assertEquals((error as { code?: string }).code, "AUTH_PENDING");
  }
  await api.authenticate();
  assertEquals(srv.requests.map((r) => r.status), [401, 401, 200]);
});

Deno.test("a wrong tenant token is refused like a pending device", async () => {
  await using dir = await tempDir();
  const { srv, api } = await setup(dir.path, { switches: { tenantToken: "other" } });
  await using _ = srv;
  const error = await assertRejects(() => api.authenticate());
  assertEquals((error as { code?: string }).code, "AUTH_PENDING");
});

const spec = (file: string) => ({
  id: "dep-1",
  artifactName: "app-1.0",
  deviceTypes: ["ota-test-device"],
  file,
});

Deno.test("next deployment: v2 with the device's provides", async () => {
  await using dir = await tempDir();
  const { srv, api } = await setup(dir.path, { deployments: [spec("/dev/null")] });
  await using _ = srv;
  const next = await nextDeployment(api, { ...device, provides: { "rootfs-image.version": "a" } });
  assertEquals(next.kind, "deployment");
  const poll = at(srv.requests, 1);
  assertEquals(poll.path, "/api/devices/v2/deployments/device/deployments/next");
  assertEquals(poll.problems, []);
  assertEquals(
    poll.text,
    '{"device_provides":{"artifact_name":"factory-1.0","device_type":"ota-test-device","rootfs-image.version":"a"}}',
  );
});

Deno.test("next deployment on an open-source server: v2 404, v1 POST 404, then v1 GET", async () => {
  await using dir = await tempDir();
  const { srv, api } = await setup(dir.path, {
    deployments: [spec("/dev/null")],
    switches: { noV2: true },
  });
  await using _ = srv;
  const next = await nextDeployment(api, { ...device, artifactName: "factory 1.0+x" });
  assert(next.kind === "deployment");
  assertEquals(next.instructions.artifactName, "app-1.0");
  assertEquals(srv.requests.slice(1).map((r) => `${r.method} ${r.path.slice(13)} ${r.status}`), [
    "POST v2/deployments/device/deployments/next 404",
    "POST v1/deployments/device/deployments/next 404",
    "GET v1/deployments/device/deployments/next 200",
  ]);
  assertEquals(
    at(srv.requests, 3).query,
    "artifact_name=factory+1.0%2Bx&device_type=ota-test-device",
  );
});

Deno.test("inventory: PUT, then PATCH when the server answers 405", async () => {
  await using dir = await tempDir();
  const { srv, api } = await setup(dir.path, { switches: { inventory405: true } });
  await using _ = srv;
  await Deno.mkdir(`${dir.path}/inv`);
  await Deno.writeTextFile(
    `${dir.path}/inv/mender-inventory-a`,
    "#!/bin/sh\necho os=Test OS\necho net=eth0\necho net=eth1\necho device_type=ignored\n",
    { mode: 0o755 },
  );
  await Deno.writeTextFile(`${dir.path}/inv/mender-inventory-broken`, "#!/bin/sh\necho oops\n", {
    mode: 0o755,
  });
  const attributes = await collectInventory(`${dir.path}/inv`, device, log);
  assertEquals(await sendInventory(api, attributes), "PATCH");
  const sent = srv.requests.filter((r) => r.path.endsWith("attributes"));
  assertEquals(sent.map((r) => `${r.method} ${r.status}`), ["PUT 405", "PATCH 200"]);
  const body = at(sent, 1).json as { name: string; value: unknown }[];
  assertEquals(body.map((a) => a.name), [
    "artifact_name",
    "device_type",
    "mender_client_version",
    "net",
    "os",
  ]);
  assertEquals(body.find((a) => a.name === "net")?.value, ["eth0", "eth1"]);
  assertEquals(body.find((a) => a.name === "device_type")?.value, "ota-test-device");
});

Deno.test("status reports: 204 is ok, 409 is an abort, anything else an error", async () => {
  await using dir = await tempDir();
  const { srv, api } = await setup(dir.path, {
    deployments: [{ ...spec("/dev/null"), abort: { fromStatus: "installing" } }],
  });
  await using _ = srv;
  assertEquals(await reportStatus(api, "dep-1", "downloading"), "ok");
  assertEquals(await reportStatus(api, "dep-1", "installing"), "aborted");
  await assertRejects(() => reportStatus(api, "no-such-deployment", "success"));
  assertEquals(srv.reports("dep-1"), ["downloading", "installing"]);
  assertEquals(srv.requests.flatMap((r) => r.problems), []);
});

Deno.test("mutual TLS: HttpsClient's certificate and key reach a server that requires them", async () => {
  await using dir = await tempDir();
  const pki = await makePki(dir.path);
  const tls = { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca };
  const without = await setup(dir.path, { tls, switches: { requireClientCert: true } }, {
    ServerCertificate: pki.files.ca,
  });
  await using _a = without.srv;
  await assertRejects(() => without.api.authenticate());
  assertEquals(at(without.srv.requests, 0).status, 403);
  const withCert = await setup(dir.path, { tls, switches: { requireClientCert: true } }, {
    ServerCertificate: pki.files.ca,
    HttpsClient: { Certificate: pki.files.clientCert, Key: pki.files.clientKey },
  });
  await using _b = withCert.srv;
  await withCert.api.authenticate();
  assertEquals(at(withCert.srv.requests, 0).clientCert, { cn: "ota-test-device", valid: true });
});

Deno.test("Mender's backoff: 1 min three times, doubling up to RetryPollIntervalSeconds", () => {
  assertEquals(backoffSchedule(300_000), [60, 60, 60, 120, 120, 120, 240, 240, 240, 300, 300, 300]);
  assertEquals(backoffSchedule(300_000, 5), [60, 60, 60, 120, 120]);
  assertEquals(backoffSchedule(60_000, 8), [60, 60, 60, 60, 60, 60, 60, 60]);
  assertEquals(backoffSchedule(5_000), [5, 5, 5], "below a minute: Mender 5 uses the interval");
});

Deno.test("key=value output and Go's JSON: repeated keys become lists, <>& escaped", () => {
  const parsed = parseKeyValues("mac=aa\n\nserial=1=2\nmac=bb\n");
  assert(typeof parsed !== "string");
  assertEquals([...parsed], [["mac", ["aa", "bb"]], ["serial", ["1=2"]]]);
  assertEquals(parseKeyValues("no equals sign"), "incorrect line 'no equals sign'");
  assertEquals(identityJson(parsed), '{"mac":["aa","bb"],"serial":"1=2"}');
  assertEquals(goJson({ a: "<&>" }), '{"a":"\\u003c\\u0026\\u003e"}');
  assertEquals(Buffer.from(goJson("\u2028")).toString(), '"\\u2028"');
});
