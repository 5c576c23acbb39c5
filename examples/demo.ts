/**
 * A whole update on a simulated device, end to end, with the compiled binary:
 *   1. build a device (two slots, a U-Boot environment driven by the real fw_setenv);
 *   2. write release-2 and a broken release-3 as artifacts;
 *   3. serve them over HTTP on 127.0.0.1 with `ota serve`;
 *   4. install release-2 from the URL, reboot (U-Boot model), commit;
 *   5. install release-3, whose system never comes up: the watchdog resets the board,
 *      U-Boot falls back to release-2, and `ota commit` refuses.
 *
 *   deno task demo            (needs root: it creates a block device node)
 */
import { boot } from "./device/bootloader.ts";
import { envDump, makeDevice, makeRootfs } from "./device/device.ts";
import { run, sh } from "./device/exec.ts";

const root = new URL("../", import.meta.url).pathname;
const ota = `${root}dist/ota`;
const work = await Deno.makeTempDir({ prefix: "ota-demo-" });
const bold = (s: string) => `\x1b[1m${s}\x1b[0m`;
const step = (s: string) => console.log(`\n${bold(`== ${s}`)}`);

async function show(cmd: string[]): Promise<number> {
  console.log(
    `$ ${cmd.map((c) => c.replace(work, "$WORK").replace(`${root}dist/`, "")).join(" ")}`,
  );
  const result = await run(cmd);
  const out = (result.stdout + result.stderr).trim();
  if (out) console.log(out.split("\n").map((l) => `  ${l}`).join("\n"));
  if (result.code !== 0) console.log(`  (exit ${result.code})`);
  return result.code;
}

async function envLine(device: Awaited<ReturnType<typeof makeDevice>>): Promise<string> {
  const env = await envDump(device);
  return `mender_boot_part=${env.mender_boot_part} upgrade_available=${env.upgrade_available} bootcount=${env.bootcount}`;
}

const server = { process: undefined as Deno.ChildProcess | undefined };
try {
  await Deno.stat(ota).catch(() => {
    throw new Error(`${ota} is missing: run 'deno task build' first (deno task demo does)`);
  });
  step("A device with two root partitions, slot A running factory-image");
  const device = await makeDevice(`${work}/device`, { deviceType: "demo-board", partitionMiB: 32 });
  console.log(
    `  ${device.dir}: part_a.img (running), part_b.img, U-Boot env: ${await envLine(device)}`,
  );
  const d = ["--config", device.config, "--data", device.data];

  step("Two releases as Mender artifacts (release-3 does not boot)");
  await Deno.mkdir(`${work}/releases`);
  const releases: [string, string][] = [["release-2", "boots fine"], [
    "release-3",
    "kernel panics",
  ]];
  for (const [name, note] of releases) {
    await makeRootfs(`${work}/${name}.ext4`, 32, {
      "etc/slot-id": `${name} rootfs\n`,
      "etc/demo-note": `${note}\n`,
    });
    await show([
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
      `${work}/releases/${name}.mender`,
      "--no-progress",
    ]);
  }

  step("Serve them on 127.0.0.1 with 'ota serve'");
  const port = 18000 + Math.floor(Math.random() * 2000);
  server.process = new Deno.Command(ota, {
    args: [
      "serve",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--no-announce",
      `${work}/releases`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/artifacts`).then((r) => r.json()).catch(() =>
      undefined
    );
    if (Array.isArray(ok?.artifacts ?? ok) && (ok.artifacts ?? ok).length === 2) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await show(["curl", "-s", `http://127.0.0.1:${port}/artifacts`]);

  step("Install release-2 over HTTP");
  await show([
    ota,
    "install",
    ...d,
    "--progress=none",
    `http://127.0.0.1:${port}/artifacts/release-2.mender`,
  ]);
  console.log(`  U-Boot env: ${await envLine(device)}`);

  step("Reboot: U-Boot tries slot B");
  let booted = await boot(device);
  console.log(`  running partition ${booted.part}: ${booted.slotId}`);
  await show([ota, "commit", ...d]);
  await show([ota, "show-artifact", ...d]);
  await show([ota, "show-provides", ...d]);

  step("Install release-3, which never comes up");
  await show([
    ota,
    "install",
    ...d,
    "--progress=none",
    `http://127.0.0.1:${port}/artifacts/release-3.mender`,
  ]);
  booted = await boot(device);
  console.log(
    `  running partition ${booted.part}: ${booted.slotId}; ${
      (await sh(["debugfs", "-R", "cat /etc/demo-note", `${device.dir}/part_a.img`]).catch(() =>
        ""
      )).trim()
    }`,
  );
  console.log("  ... the kernel panics, the watchdog resets the board");
  booted = await boot(device);
  console.log(
    `  U-Boot: bootcount exceeded bootlimit, ${
      booted.rolledBack ? "fell back" : "did NOT fall back"
    } to partition ${booted.part}: ${booted.slotId}`,
  );
  console.log(`  U-Boot env: ${await envLine(device)}`);
  const refused = await show([ota, "commit", ...d]);
  await show([ota, "show-artifact", ...d]);

  const ok = booted.rolledBack && refused === 1;
  step(
    ok
      ? "Done: release-2 installed and committed; release-3 rolled back by the bootloader"
      : "Something went wrong",
  );
  if (!ok) Deno.exitCode = 1;
} finally {
  server.process?.kill();
  await server.process?.status;
  await Deno.remove(work, { recursive: true }).catch(() => {});
}
