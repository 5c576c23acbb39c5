/**
 * The exact order of every state script, ota against the real Mender client 3.4 on the
 * same artifact and board: install+commit, install+rollback, a failed install, a failed
 * commit. Every Artifact* and Download script logs its own name; two of them fail on
 * demand (a flag file), so the same artifact serves all four cases.
 */
import { assertEquals } from "../helpers/assert.ts";
import {
  bootDevice,
  type ClientName,
  createMenderDevice,
  menderClientAvailable,
  releaseMenderDevice,
  runClient,
} from "../helpers/mender_client.ts";
import { ota, sh } from "../helpers/mod.ts";

const artifactStates = [
  "ArtifactInstall",
  "ArtifactReboot",
  "ArtifactCommit",
  "ArtifactRollback",
  "ArtifactRollbackReboot",
  "ArtifactFailure",
];
const actions = ["Enter", "Leave", "Error"];

function logger(log: string, failFlag?: string): string {
  const fail = failFlag ? `[ -e ${failFlag} ] && exit 1\n` : "";
  return `#!/bin/sh\necho "$(basename "$0")" >> ${log}\n${fail}exit 0\n`;
}

async function scenario(client: ClientName, name: string): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: `ota-order-${client}-` });
  const log = `${dir}/order.log`;
  const flags = { install: `${dir}/fail-install`, commit: `${dir}/fail-commit` };
  const scriptDir = `${dir}/scripts`;
  await Deno.mkdir(scriptDir);
  const scriptArgs: string[] = [];
  for (const state of artifactStates) {
    for (const action of actions) {
      const file = `${scriptDir}/${state}_${action}_00`;
      await Deno.writeTextFile(file, logger(log), { mode: 0o755 });
      scriptArgs.push("-s", file);
    }
  }
  for (
    const [state, flag] of [["ArtifactInstall", flags.install], ["ArtifactCommit", flags.commit]]
  ) {
    const file = `${scriptDir}/${state}_Enter_50_fail`;
    await Deno.writeTextFile(file, logger(log, flag), { mode: 0o755 });
    scriptArgs.push("-s", file);
  }
  const rootfsScripts: Record<string, string> = { version: "3\n" };
  for (const action of actions) rootfsScripts[`Download_${action}_00`] = logger(log);
  const device = await createMenderDevice(`${dir}/device`, { rootfs: true, rootfsScripts });
  try {
    await Deno.mkdir(`${dir}/root/etc`, { recursive: true });
    await Deno.writeTextFile(`${dir}/root/etc/slot-id`, "release-2\n");
    await sh(["truncate", "-s", "16M", `${dir}/rootfs.ext4`]);
    await sh(["mkfs.ext4", "-q", "-F", "-d", `${dir}/root`, `${dir}/rootfs.ext4`]);
    const artifact = `${dir}/release-2.mender`;
    const write = await ota([
      "artifact",
      "write",
      "rootfs-image",
      "-n",
      "release-2",
      "-t",
      "test-device",
      "-f",
      `${dir}/rootfs.ext4`,
      "-o",
      artifact,
      ...scriptArgs,
    ]);
    if (write.code !== 0) throw new Error(write.stderr);

    if (name === "failed install") await Deno.writeTextFile(flags.install, "");
    if (name === "failed commit") await Deno.writeTextFile(flags.commit, "");
    await Deno.writeTextFile(log, "");
    await runClient(client, device, "install", [artifact]);
    await Deno.writeTextFile(log, "-- install done\n", { append: true });
    if (name !== "failed install") {
      await bootDevice(device);
      await runClient(client, device, name === "install+rollback" ? "rollback" : "commit");
    }
    return (await Deno.readTextFile(log)).trim().split("\n");
  } finally {
    await releaseMenderDevice(device);
    await Deno.remove(dir, { recursive: true });
  }
}

for (const name of ["install+commit", "install+rollback", "failed install", "failed commit"]) {
  Deno.test({
    name: `state script order, ${name}: ota runs exactly what Mender 3.4 runs`,
    ignore: !menderClientAvailable(),
    async fn() {
      const mender = await scenario("mender", name);
      const mine = await scenario("ota", name);
      assertEquals(mine, mender);
    },
  });
}
