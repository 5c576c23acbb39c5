/**
 * ota as Mender 4's `mender-auth` (a symlink): --version, help, bootstrap, and the daemon
 * that offers io.mender.Authentication1 on a private system bus (the real dbus-daemon),
 * called with systemd's busctl and watched with gdbus; then Debian's mender-connect add-on
 * (the real one, unpacked from its package) on top of it: it asks ota for the token over
 * D-Bus and opens its deviceconnect connection to the server with it.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { BINARY, hasCommand, run, tempDir } from "../helpers/mod.ts";
import { unpacked } from "../hw/harness/debs.ts";
import { contractServer } from "./contract_server.ts";
import { type RunningClient, startProcess } from "./fixture.ts";

const ready = Deno.uid() === 0 && hasCommand("dbus-daemon") && hasCommand("busctl") &&
  hasCommand("gdbus") && (() => {
    try {
      return Deno.statSync(BINARY).isFile;
    } catch {
      return false;
    }
  })();

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !ready, sanitizeResources: false, sanitizeOps: false, fn });

async function until(what: string, done: () => Promise<boolean> | boolean, ms = 20_000) {
  const end = Date.now() + ms;
  while (!await done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A device directory, a mender-auth symlink, a contract server and a private system bus. */
async function setup(dir: string) {
  const server = await contractServer();
  const auth = `${dir}/mender-auth`;
  await Deno.symlink(BINARY, auth);
  await Deno.writeTextFile(`${dir}/identity`, "#!/bin/sh\necho mac=02:00:00:00:00:07\n", {
    mode: 0o755,
  });
  const config = `${dir}/mender.conf`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      ServerURL: server.url,
      IdentityScript: `${dir}/identity`,
      DeviceKeyType: "ed25519",
    }),
  );
  await Deno.mkdir(`${dir}/data`);
  const bus = `${dir}/system_bus_socket`;
  await Deno.writeTextFile(
    `${dir}/bus.conf`,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${bus}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow send_type="signal"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`,
  );
  const daemon = startProcess(["dbus-daemon", "--nofork", `--config-file=${dir}/bus.conf`]);
  await until("the bus", () => Deno.stat(bus).then(() => true, () => false));
  const address = `unix:path=${bus}`;
  const env = { DBUS_SYSTEM_BUS_ADDRESS: address };
  const common = ["-c", config, "-b", `${dir}/none.conf`, "-d", `${dir}/data`];
  return { server, auth, address, env, common, daemon };
}

const busctl = (address: string, ...args: string[]) =>
  run([
    "busctl",
    `--address=${address}`,
    "call",
    "io.mender.AuthenticationManager",
    "/io/mender/AuthenticationManager",
    ...args,
  ]);

test("mender-auth: --version, help, bootstrap makes a key and authenticates once", async () => {
  await using dir = await tempDir("ota-auth-");
  const s = await setup(dir.path);
  await using _s = s.server;
  await using _d = s.daemon;
  const version = await run([s.auth, "--version"]);
  assertEquals(version.code, 0);
  assertMatch(version.stdout, /^\d+\.\d+\.\d+\n$/);
  assertEquals((await run([s.auth, "--version", "bootstrap"])).code, 1);
  const help = await run([s.auth, "--help"]);
  assertEquals(help.code, 0);
  for (
    const part of ["USAGE:", "COMMANDS:", "bootstrap  Perform bootstrap and exit", "--data DIR"]
  ) {
    assertStringIncludes(help.stdout, part);
  }
  assertStringIncludes((await run([s.auth, "daemon", "--help"])).stdout, "--forcebootstrap, -F");
  const unknown = await run([s.auth, "setup"]);
  assertEquals(unknown.code, 1);
  assertStringIncludes(unknown.stderr, "No such action: setup");
  const bootstrap = await run([s.auth, ...s.common, "bootstrap"]);
  assertEquals(bootstrap.code, 0, bootstrap.stderr);
  assertStringIncludes(
    bootstrap.stderr,
    `Successfully authorized with the server '${s.server.url}'`,
  );
  const key = await Deno.readTextFile(`${dir.path}/data/mender-agent.pem`);
  assertEquals((await Deno.stat(`${dir.path}/data/mender-agent.pem`)).mode! & 0o777, 0o600);
  assertEquals((await run([s.auth, ...s.common, "bootstrap"])).code, 0);
  assertEquals(await Deno.readTextFile(`${dir.path}/data/mender-agent.pem`), key, "kept");
  assertEquals((await run([s.auth, ...s.common, "bootstrap", "-F"])).code, 0);
  assert(await Deno.readTextFile(`${dir.path}/data/mender-agent.pem`) !== key, "-F: a new key");
  // an encrypted key (openssl's) is read with --passphrase-file, and refused without it
  const pem = `${dir.path}/data/mender-agent.pem`;
  await run([
    "openssl",
    "genpkey",
    "-algorithm",
    "ed25519",
    "-aes256",
    "-pass",
    "pass:s3cret",
    "-out",
    pem,
  ]);
  await Deno.writeTextFile(`${dir.path}/pass`, "s3cret\n");
  const locked = await run([s.auth, ...s.common, "bootstrap"]);
  assertEquals(locked.code, 1);
  assertStringIncludes(locked.stderr, "[KEY_INVALID]");
  const unlocked = await run([
    s.auth,
    ...s.common,
    "bootstrap",
    "--passphrase-file",
    `${dir.path}/pass`,
  ]);
  assertEquals(unlocked.code, 0, unlocked.stderr);
  assertStringIncludes(unlocked.stderr, "Successfully authorized");
  const auths = s.server.requests.filter((r) => r.path.endsWith("/auth_requests"));
  assertEquals(auths.map((r) => `${r.keyType} ${r.signatureValid} ${r.status}`), [
    "ed25519 true 200",
    "ed25519 true 200",
    "ed25519 true 200",
    "ed25519 true 200",
  ]);
});

test("mender-auth daemon: io.mender.Authentication1 on the system bus, and mender-connect on top", async () => {
  await using dir = await tempDir("ota-auth-");
  const s = await setup(dir.path);
  await using _s = s.server;
  await using _d = s.daemon;
  const clients: RunningClient[] = [];
  try {
    const daemon = startProcess([s.auth, ...s.common, "daemon"], s.env);
    clients.push(daemon);
    await until(
      "the daemon on the bus",
      async () => (await busctl(s.address, "io.mender.Authentication1", "GetJwtToken")).code === 0,
    );
    assertEquals(
      (await busctl(s.address, "io.mender.Authentication1", "GetJwtToken")).stdout,
      'ss "" ""\n',
    );
    const monitor = startProcess([
      "gdbus",
      "monitor",
      "--address",
      s.address,
      "--dest",
      "io.mender.AuthenticationManager",
    ]);
    clients.push(monitor);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const fetch = await busctl(s.address, "io.mender.Authentication1", "FetchJwtToken");
    assertEquals(fetch.stdout, "b true\n", fetch.stderr);
    await until(
      "the token",
      () => s.server.requests.some((r) => r.path.endsWith("/auth_requests")),
    );
    const token = s.server.requests.find((r) => r.path.endsWith("/auth_requests"))!.response;
    await until("the signal", () => monitor.output().includes("JwtTokenStateChange"));
    assertStringIncludes(monitor.output(), `('${token}', '${s.server.url}')`);
    assertEquals(
      (await busctl(s.address, "io.mender.Authentication1", "GetJwtToken")).stdout,
      `ss "${token}" "${s.server.url}"\n`,
    );
    const introspect = await busctl(s.address, "org.freedesktop.DBus.Introspectable", "Introspect");
    assertStringIncludes(introspect.stdout, '<method name=\\"FetchJwtToken\\">');
    const unknown = await busctl(s.address, "io.mender.Authentication1", "Nothing");
    assert(unknown.code !== 0 && unknown.stderr.includes("no method"), unknown.stderr);

    // Debian's mender-connect: it takes the token over D-Bus and connects to the server with it
    const connect = `${await unpacked("mender-connect")}/usr/bin/mender-connect`;
    await Deno.writeTextFile(
      `${dir.path}/mender-connect.conf`,
      JSON.stringify({ ShellCommand: "/bin/sh", User: "root" }),
    );
    const addon = startProcess([
      connect,
      "--config",
      `${dir.path}/mender-connect.conf`,
      "--fallback-config",
      `${dir.path}/none.conf`,
      "daemon",
    ], s.env);
    clients.push(addon);
    await s.server.waitFor(
      (rs) => rs.some((r) => r.path === "/api/devices/v1/deviceconnect/connect"),
      30_000,
      "mender-connect's connection",
    );
    const request = s.server.requests.find((r) => r.path.endsWith("/deviceconnect/connect"))!;
    assertEquals(request.bearer, "device", "the token ota handed over");
    assertEquals(request.headers.authorization, `Bearer ${token}`);
    assertEquals(request.headers.upgrade?.toLowerCase(), "websocket");
    assertEquals(await daemon.stop(), 0, daemon.output());
    assertStringIncludes(daemon.output(), "Termination signal received, shutting down gracefully");
  } finally {
    for (const client of clients) await client[Symbol.asyncDispose]();
  }
});
