/**
 * The simulated A/B board of the managed tests (the real fw_setenv on a file environment,
 * the bootloader model of examples/device) with a contract server that offers one rootfs
 * deployment, and the helpers that drive `ota daemon` (the compiled binary) through its
 * reboots as systemd and the board would.
 */
import { assertEquals } from "../helpers/assert.ts";
import { BINARY } from "../helpers/mod.ts";
import { type Fixture, fixture } from "../e2e/fixture.ts";
import { type ContractServer, contractServer, type Recorded } from "./contract_server.ts";
import { type RunningClient, startProcess } from "./fixture.ts";

export const ready = Deno.uid() === 0 && (() => {
  try {
    return Deno.statSync(BINARY).isFile;
  } catch {
    return false;
  }
})();

export const ID = "44444444-aaaa-4bbb-8ccc-000000000001";
export const statusOf = (r: Recorded) => (r.json as { status?: string } | undefined)?.status;
export const reports = (s: ContractServer) =>
  s.requests.filter((r) => r.path.endsWith("/status")).map((r) => `${statusOf(r)} ${r.status}`);
export const finals = (s: ContractServer) =>
  s.requests.filter((r) => ["success", "failure"].includes(statusOf(r) ?? "") && r.status === 204);

export interface Board {
  f: Fixture;
  server: ContractServer;
  /** Exists once the daemon ran its reboot command. */
  rebooted: string;
  /** Starts the daemon; `env` adds to the test's environment (OTA_TEST_DIE_AFTER). */
  start(env?: Record<string, string>): RunningClient;
  /** A file a test script waits for before it goes on (the test creates it). */
  release(name: string): Promise<void>;
}

/** A waiting point for an artifact state script: marks `name`, then waits for its release, once. */
function pausingScript(dir: string, name: string): string {
  return `#!/bin/sh
[ -e "${dir}/${name}.done" ] && exit 0
touch "${dir}/${name}.reached" "${dir}/${name}.done"
while [ ! -e "${dir}/${name}.release" ]; do sleep 0.1; done
`;
}

export async function board(
  options: { scripts?: string[]; rebootCommand?: string } = {},
): Promise<Board> {
  const f = await fixture();
  const dir = f.device.dir;
  await Deno.writeTextFile(`${dir}/identity`, "#!/bin/sh\necho mac=02:00:00:00:00:01\n", {
    mode: 0o755,
  });
  await Deno.mkdir(`${dir}/inventory`);
  await Deno.writeTextFile(`${dir}/bin/reboot-sim`, `#!/bin/sh\ntouch "${dir}/rebooted"\n`, {
    mode: 0o755,
  });
  const server = await contractServer();
  const config = JSON.parse(await Deno.readTextFile(f.device.config));
  await Deno.writeTextFile(
    f.device.config,
    JSON.stringify({
      ...config,
      ServerURL: server.url,
      IdentityScript: `${dir}/identity`,
      InventoryScriptsDir: `${dir}/inventory`,
      RebootCommand: options.rebootCommand ?? `${dir}/bin/reboot-sim`,
      UpdatePollIntervalSeconds: 1,
      RetryPollIntervalSeconds: 1,
      InventoryPollIntervalSeconds: 3600,
      DeviceKeyType: "ecdsa",
    }),
  );
  const scripts: string[] = [];
  for (const name of options.scripts ?? []) {
    const path = `${f.dir}/${name}`;
    await Deno.writeTextFile(path, pausingScript(dir, name), { mode: 0o755 });
    scripts.push("-s", path);
  }
  server.deployments.push({
    id: ID,
    artifactName: "release-2",
    deviceTypes: [f.device.deviceType],
    file: await f.rootfsArtifact("release-2", { extra: scripts }),
  });
  return {
    f,
    server,
    rebooted: `${dir}/rebooted`,
    start: (env) =>
      startProcess([
        BINARY,
        "daemon",
        "--config",
        f.device.config,
        "--data",
        f.device.data,
        "--log-level",
        "debug",
      ], env),
    release: (name) => Deno.writeTextFile(`${dir}/${name}.release`, ""),
  };
}

export async function until(what: string, done: () => Promise<boolean> | boolean, ms = 30_000) {
  const end = Date.now() + ms;
  while (!await done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
export const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/**
 * Waits for `done` while the daemon runs; whenever it ran its reboot command, the system
 * "goes down" (SIGTERM), boots, and the daemon starts again, as systemd would start it.
 */
export async function drive(
  b: Board,
  daemon: { current: RunningClient },
  done: () => Promise<boolean>,
  start = () => b.start(),
  boot: () => Promise<unknown> = () => b.f.boot(),
) {
  await until("the daemon to get there", async () => {
    if (await exists(b.rebooted)) {
      await Deno.remove(b.rebooted);
      assertEquals(await daemon.current.stop(), 0);
      await boot();
      daemon.current = start();
    }
    return await done();
  });
}

/** The device is whole: `artifact` runs from the slot the bootloader boots, nothing pending. */
export async function assertWhole(b: Board, artifact: string): Promise<void> {
  const state = await b.f.state();
  assertEquals(state.artifact, artifact);
  assertEquals(state.upgrade, "0", "no update left pending in the bootloader");
  assertEquals(state.part, state.booted, "the running slot is the one the bootloader boots");
  const store = JSON.parse(await Deno.readTextFile(`${b.f.device.data}/ota-store.json`));
  assertEquals([store.update, store.report], [undefined, undefined], "no update, no report left");
}
