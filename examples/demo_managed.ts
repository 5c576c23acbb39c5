/**
 * Managed mode end to end, with the compiled binary: a Mender server of the tests' own (the
 * contract server, test/managed) and a simulated A/B board running `ota daemon`:
 *   1. release-2 is deployed: downloading, installing, rebooting, the board boots the new
 *      slot, the daemon starts again, commits and reports success;
 *   2. release-3 does not boot: the bootloader falls back, the daemon reports failure and
 *      uploads the deployment's log;
 *   3. release-4 is aborted on the server while the device installs it (409).
 * Then it prints what the server saw. "Reboot" is the board model of examples/device: the
 * daemon's RebootCommand leaves a mark, the demo stops the daemon, boots, and starts it again
 * as systemd would.
 *
 *   deno task demo:managed       (needs root: it creates a block device node)
 */
import { contractServer, type Recorded } from "../test/managed/contract_server.ts";
import { startProcess } from "../test/managed/fixture.ts";
import { boot } from "./device/bootloader.ts";
import { envDump, makeDevice, makeRootfs } from "./device/device.ts";
import { sh } from "./device/exec.ts";

const root = new URL("../", import.meta.url).pathname;
const ota = `${root}dist/ota`;
const work = await Deno.makeTempDir({ prefix: "ota-demo-managed-" });
const bold = (s: string) => `\x1b[1m${s}\x1b[0m`;
const step = (s: string) => console.log(`\n${bold(`== ${s}`)}`);
const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

const server = await contractServer();
try {
  await Deno.stat(ota).catch(() => {
    throw new Error(`${ota} is missing: run 'deno task build' first (deno task demo:managed does)`);
  });
  step("A board with two root partitions, slot A running factory-image");
  const device = await makeDevice(`${work}/device`, { deviceType: "demo-board", partitionMiB: 32 });
  const dir = device.dir;
  await Deno.writeTextFile(`${dir}/identity`, "#!/bin/sh\necho mac=02:00:00:00:00:2a\n", {
    mode: 0o755,
  });
  await Deno.mkdir(`${dir}/inventory`);
  await Deno.writeTextFile(
    `${dir}/inventory/mender-inventory-os`,
    '#!/bin/sh\necho os="Demo Linux"\n',
    { mode: 0o755 },
  );
  await Deno.writeTextFile(`${dir}/bin/reboot`, `#!/bin/sh\ntouch "${dir}/reboot-asked"\n`, {
    mode: 0o755,
  });
  const config = JSON.parse(await Deno.readTextFile(device.config));
  await Deno.writeTextFile(
    device.config,
    JSON.stringify(
      {
        ...config,
        ServerURL: server.url,
        IdentityScript: `${dir}/identity`,
        InventoryScriptsDir: `${dir}/inventory`,
        RebootCommand: `${dir}/bin/reboot`,
        UpdatePollIntervalSeconds: 2,
        RetryPollIntervalSeconds: 2,
      },
      null,
      2,
    ),
  );
  console.log(`  ${dir}, server ${server.url}`);

  step("Three releases as artifacts (release-3's kernel panics)");
  const releases = ["release-2", "release-3", "release-4"];
  for (const name of releases) {
    await makeRootfs(`${work}/${name}.ext4`, 32, { "etc/slot-id": `${name} rootfs\n` });
    await sh([
      ota,
      "artifact",
      "write",
      "rootfs-image",
      "-n",
      name,
      "-t",
      "demo-board",
      "-f",
      `${work}/${name}.ext4`,
      "-o",
      `${work}/${name}.mender`,
    ]); // deno-fmt-ignore
    console.log(`  ${name}.mender`);
  }
  const idOf = (i: number) => `5555aaaa-0000-4000-8000-00000000000${i + 1}`;
  const ids = releases.map((_, i) => idOf(i));
  server.deployments.push(
    ...releases.map((name, i) => ({
      id: idOf(i),
      artifactName: name,
      deviceTypes: ["demo-board"],
      file: `${work}/${name}.mender`,
      ...(name === "release-4" ? { abort: { fromStatus: "installing" } } : {}),
    })),
  );

  step("ota daemon, as the systemd unit starts it");
  const args = [ota, "daemon", "--config", device.config, "--data", device.data];
  let daemon = startProcess(args);
  const finished = (id: string) =>
    server.reports(id).some((s) => s === "success" || s === "failure");
  let boots = 0;
  while (!ids.every(finished)) {
    if (await exists(`${dir}/reboot-asked`)) {
      await Deno.remove(`${dir}/reboot-asked`);
      await daemon.stop();
      // release-3 never comes up: its first boot hangs, the watchdog resets, U-Boot falls back
      const current = server.deployments.find((d) => !finished(d.id))!;
      let result = await boot(device);
      if (current.artifactName === "release-3") result = await boot(device);
      boots++;
      const env = await envDump(device);
      console.log(
        `  reboot ${boots}: slot ${result.part === 2 ? "A" : "B"} runs (${result.slotId})${
          result.rolledBack ? ", after U-Boot fell back" : ""
        }; upgrade_available=${env.upgrade_available}`,
      );
      daemon = startProcess(args);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await server.waitFor((rs) => rs.at(-1)?.path.endsWith("/next") === true, 10_000);
  await daemon.stop();
  console.log(
    daemon.output().split("\n").filter((l) => /Deployment|Inventory|Authenticated/.test(l))
      .slice(-6).map((l) => `  daemon: ${l}`).join("\n"),
  );

  step("What the server saw");
  const name = (r: Recorded) => {
    const id = /deployments\/([^/]+)\/(status|log)$/.exec(r.path)?.[1] ??
      /artifacts\/(.+)\.mender/.exec(r.path)?.[1];
    return id ? releases[ids.indexOf(id)] ?? id : "";
  };
  for (const r of server.requests) {
    const what = r.path.endsWith("/status")
      ? `status ${(r.json as { status: string }).status}`
      : r.path.endsWith("/log")
      ? `log (${(r.json as { messages: unknown[] }).messages.length} lines)`
      : r.path.endsWith("/attributes")
      ? `inventory (${(r.json as unknown[]).length} attributes)`
      : r.path.endsWith("/next")
      ? `next deployment${
        r.status === 200 ? `: ${JSON.parse(r.response).artifact.artifact_name}` : ""
      }`
      : r.path.endsWith("auth_requests")
      ? `authentication (${r.keyType} signature ${r.signatureValid ? "valid" : "INVALID"})`
      : r.path.startsWith("/artifacts/")
      ? "artifact download"
      : r.path;
    console.log(
      `  ${(r.t / 1000).toFixed(1).padStart(5)} s  ${r.method.padEnd(5)} ${what.padEnd(40)} ${
        name(r).padEnd(10)
      } -> ${r.status}`,
    );
  }
  const problems = server.requests.flatMap((r) => r.problems);
  console.log(`\n  ${server.requests.length} requests, ${problems.length} refused by the contract`);
  for (const [i, release] of releases.entries()) {
    console.log(`  ${release}: ${server.reports(idOf(i)).join(" -> ")}`);
  }
} finally {
  await server[Symbol.asyncDispose]();
  await sh(["rm", "-rf", work]);
}
