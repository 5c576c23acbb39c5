/**
 * A managed device for the daemon tests: Mender's default paths in a private mount namespace
 * (DIR/etc/mender over /etc/mender, DIR/share over /usr/share/mender with Mender's own
 * identity and inventory scripts, its single-file module and a module that fails), PATH shims
 * that refuse reboot, fw_setenv and fw_printenv, a pre-made RSA 3072 key, and module-image
 * artifacts written by the real mender-artifact. The same device runs the real Mender 3.4
 * daemon or `ota daemon`.
 */
import { otaExecutable, sh } from "../helpers/mod.ts";
import {
  createMenderDevice,
  MENDER,
  type MenderDevice,
  namespaceCommand,
} from "../helpers/mender_client.ts";
import type { ContractServer, DeploymentSpec } from "./contract_server.ts";

export const DEVICE_TYPE = "ota-test-device";
const EXAMPLES = "/usr/share/doc/mender-client/examples";
/** Inventory scripts that only read the host (geo asks the internet; provides runs /usr/bin/mender). */
const INVENTORY = ["hostinfo", "os", "rootfs-type", "update-modules", "network"];

const FAIL_MODULE = `#!/bin/sh
case "$1" in
  ArtifactInstall) echo "ota-fail: this module always fails to install" >&2; exit 1 ;;
  SupportsRollback) echo Yes ;;
  NeedsArtifactReboot) echo No ;;
esac
exit 0
`;

/** A module that reboots its device itself (NeedsArtifactReboot: Yes); it logs each call. */
const selfRebootModule = (calls: string) =>
  `#!/bin/sh
echo "$1" >> "${calls}"
case "$1" in
  SupportsRollback) echo Yes ;;
  NeedsArtifactReboot) echo Yes ;;
esac
exit 0
`;

export type Client = "mender" | "ota";

export interface ManagedDevice extends MenderDevice {
  /** Where the single-file artifacts install their file. */
  installed: string;
  /** The data directory of the client that runs here. */
  clientData(client: Client): string;
}

let sharedKey: string | undefined;

/** One RSA 3072 key for all test devices: generating it costs the real client seconds. */
async function deviceKey(): Promise<string> {
  if (!sharedKey) {
    const path = await Deno.makeTempFile({ prefix: "ota-managed-key-" });
    await sh(["openssl", "genrsa", "-traditional", "-out", path, "3072"]);
    sharedKey = await Deno.readTextFile(path);
    await Deno.remove(path);
  }
  return sharedKey;
}

export interface ManagedOptions {
  server: ContractServer;
  serverCertificate?: string;
  config?: Record<string, unknown>;
  rootfsScripts?: Record<string, string>;
}

export async function managedDevice(dir: string, options: ManagedOptions): Promise<ManagedDevice> {
  const base = await createMenderDevice(dir, {
    deviceType: DEVICE_TYPE,
    artifactName: "factory-1.0",
    managed: true,
    refuse: ["reboot", "fw_setenv", "fw_printenv"],
    rootfsScripts: options.rootfsScripts,
    config: {
      ServerURL: options.server.url,
      ServerCertificate: options.serverCertificate,
      TenantToken: "eyJ0ZW5hbnQiOiJ0ZXN0In0.tenant.token",
      UpdatePollIntervalSeconds: 1,
      InventoryPollIntervalSeconds: 3600,
      RetryPollIntervalSeconds: 1,
      DBus: { Enabled: false },
      // ota-only keys back at Mender's defaults: the namespace puts the test's files there
      ModulesDir: undefined,
      ScriptsDir: undefined,
      ArtifactInfoFile: undefined,
      ...options.config,
    },
  });
  await Deno.copyFile(
    `${EXAMPLES}/mender-device-identity`,
    `${base.dir}/share/identity/mender-device-identity`,
  );
  for (const name of INVENTORY) {
    await Deno.copyFile(
      `${EXAMPLES}/mender-inventory-${name}`,
      `${base.dir}/share/inventory/mender-inventory-${name}`,
    );
  }
  await Deno.copyFile("/usr/share/mender/modules/v3/single-file", `${base.modulesDir}/single-file`);
  await Deno.writeTextFile(`${base.modulesDir}/ota-fail`, FAIL_MODULE, { mode: 0o755 });
  await Deno.writeTextFile(
    `${base.modulesDir}/ota-self-reboot`,
    selfRebootModule(`${base.dir}/self-reboot.calls`),
    { mode: 0o755 },
  );
  const key = await deviceKey();
  for (const data of [base.dataDir, `${base.dir}/ota-data`]) {
    await Deno.writeTextFile(`${data}/mender-agent.pem`, key, { mode: 0o600 });
  }
  return {
    ...base,
    installed: `${base.dir}/installed`,
    clientData: (client) => client === "mender" ? base.dataDir : `${base.dir}/ota-data`,
  };
}

/** A module-image artifact, written by the real mender-artifact, for `type` on this device. */
export async function moduleArtifact(
  device: ManagedDevice,
  name: string,
  options: { type?: "single-file" | "ota-fail" | "ota-self-reboot"; deviceType?: string } = {},
): Promise<string> {
  const work = `${device.dir}/artifact-src/${name}`;
  await Deno.mkdir(work, { recursive: true });
  await Deno.writeTextFile(`${work}/dest_dir`, `${device.installed}\n`);
  await Deno.writeTextFile(`${work}/filename`, "app.txt\n");
  await Deno.writeTextFile(`${work}/permissions`, "644\n");
  await Deno.writeTextFile(`${work}/app.txt`, `${name}\n`.repeat(200));
  const out = `${device.dir}/${name}.mender`;
  await sh([
    "mender-artifact",
    "write",
    "module-image",
    "-T",
    options.type ?? "single-file",
    "-t",
    options.deviceType ?? DEVICE_TYPE,
    "-n",
    name,
    "-o",
    out,
    "-f",
    `${work}/dest_dir`,
    "-f",
    `${work}/filename`,
    "-f",
    `${work}/permissions`,
    "-f",
    `${work}/app.txt`,
  ]); // deno-fmt-ignore
  return out;
}

/** The scenario "main": success, already installed, a module failure, an abort, another device type. */
export async function mainDeployments(device: ManagedDevice): Promise<DeploymentSpec[]> {
  const id = (n: number) => `11111111-aaaa-4bbb-8ccc-00000000000${n}`;
  const app1 = await moduleArtifact(device, "app-1.0");
  return [
    { id: id(1), artifactName: "app-1.0", deviceTypes: [DEVICE_TYPE], file: app1 },
    { id: id(2), artifactName: "app-1.0", deviceTypes: [DEVICE_TYPE], file: app1 },
    {
      id: id(3),
      artifactName: "app-2.0-broken",
      deviceTypes: [DEVICE_TYPE],
      file: await moduleArtifact(device, "app-2.0-broken", { type: "ota-fail" }),
    },
    {
      id: id(4),
      artifactName: "app-3.0",
      deviceTypes: [DEVICE_TYPE],
      file: await moduleArtifact(device, "app-3.0"),
      abort: { fromStatus: "installing" },
    },
    {
      id: id(5),
      artifactName: "app-4.0-other",
      deviceTypes: [DEVICE_TYPE],
      file: await moduleArtifact(device, "app-4.0-other", { deviceType: "other-device" }),
    },
  ];
}

export interface RunningClient extends AsyncDisposable {
  pid: number;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number>;
  kill(signal?: Deno.Signal): void;
  exited: Promise<number>;
  output(): string;
}

/** Starts `mender daemon` (3.4) or `ota daemon` on the device, in its mount namespace. */
export function startClient(
  device: ManagedDevice,
  client: Client,
  options: { args?: string[]; env?: Record<string, string> } = {},
): RunningClient {
  const common = [
    "--config",
    `${device.dir}/etc/mender/mender.conf`,
    "--fallback-config",
    `${device.dir}/data/mender.conf`,
    "--data",
    device.clientData(client),
  ];
  const argv = client === "mender"
    ? [MENDER, "--no-syslog", "--log-level", "debug", ...common, "daemon"]
    : [
      device.env.OTA_BIN ?? otaExecutable(),
      "daemon",
      ...common,
      "--log-level",
      "debug",
      ...(options.args ?? []),
    ];
  const { cmd, env } = namespaceCommand(device, argv, options.env);
  return startProcess(cmd, env);
}

/** Runs `cmd` in the background, collecting its output; SIGTERM or SIGKILL it by pid. */
export function startProcess(cmd: string[], env?: Record<string, string>): RunningClient {
  const [program, ...args] = cmd;
  if (!program) throw new Error("startProcess: no command");
  const child = new Deno.Command(program, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const pumps = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const exited = child.status.then(async (status) => {
    await pumps;
    return status.code;
  });
  let done = false;
  exited.then(() => done = true);
  return {
    pid: child.pid,
    exited,
    output: () => text,
    kill(signal = "SIGKILL") {
      if (!done) child.kill(signal);
    },
    async stop() {
      if (!done) child.kill("SIGTERM");
      const timer = setTimeout(() => !done && child.kill("SIGKILL"), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async [Symbol.asyncDispose]() {
      if (!done) child.kill("SIGKILL");
      await exited;
    },
  };
}
