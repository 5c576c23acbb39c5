/**
 * Power cuts: the binary is killed with SIGKILL in every state (by state scripts that kill
 * it), around each bootloader write (a wrapper around the real fw_setenv), and at byte
 * offsets during the write. Then the board boots (U-Boot model), `ota resume` runs as a
 * boot-time unit would, and the checks: the slot that booted holds a whole system, the
 * name matches what runs, and the device can finish or repeat the update.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { BINARY, sha256File } from "../helpers/mod.ts";
import { slotImage } from "../../examples/device/device.ts";
import { type Fixture, fixture } from "./fixture.ts";

/** Kills ota once: a power cut does not repeat when the state is run again after it. */
const killParentOnce = (mark: string) =>
  `#!/bin/sh\n[ -e ${mark} ] && exit 0\ntouch ${mark}\nkill -9 $PPID\nsleep 5\n`;

interface Setup {
  f: Fixture;
  artifact: string;
  image: string;
}

async function setup(
  config: Record<string, unknown> = {},
  scripts: string[] = [],
  failingScripts: string[] = [],
): Promise<Setup> {
  const f = await fixture({ config });
  const scriptDir = `${f.dir}/artifact-scripts`;
  await Deno.mkdir(scriptDir);
  const extra: string[] = [];
  for (const name of failingScripts) {
    await Deno.writeTextFile(`${scriptDir}/${name}`, "#!/bin/sh\nexit 1\n", { mode: 0o755 });
    extra.push("-s", `${scriptDir}/${name}`);
  }
  for (const name of scripts) {
    await Deno.writeTextFile(`${scriptDir}/${name}`, killParentOnce(`${f.dir}/cut-${name}`), {
      mode: 0o755,
    });
    extra.push("-s", `${scriptDir}/${name}`);
  }
  const artifact = await f.rootfsArtifact("release-2", {
    extra: ["--compression", "none", ...extra],
  });
  const image = artifact.replace(/\.mender$/, ".ext4");
  return { f, artifact, image };
}

/** After the cut: power on, let ota finish what it can, and check the device is whole. */
async function afterCut(s: Setup, label: string): Promise<"updated" | "old" | "pending"> {
  const { f } = s;
  const first = await f.boot();
  const resume = await f.ota("resume");
  assert(
    [0, 1, 2].includes(resume.code),
    `${label}: resume exited ${resume.code}: ${resume.stderr}`,
  );
  assert(!/\[(INTERNAL|STORE_CORRUPT)\]/.test(resume.stderr), `${label}: ${resume.stderr}`);
  // whatever runs, or is set to boot next, must be a whole system
  const env = await f.env();
  for (const part of new Set([first.part, Number(env.mender_boot_part)])) {
    if (part === 3) {
      assertEquals(
        await sha256File(slotImage(f.device.dir, 3)),
        await sha256File(s.image),
        `${label}: slot B boots but is not the whole image`,
      );
    }
  }
  const commit = await f.ota("commit");
  if (commit.code === 2) {
    // nothing pending: the name is that of the system the bootloader starts from now on
    const name = (await f.ota("show-artifact")).stdout.trim();
    const next = Number((await f.env()).mender_boot_part);
    assertEquals(
      name,
      next === 3 ? "release-2" : "factory-image",
      `${label}: boots slot ${next}, name ${name}`,
    );
    assertEquals((await f.env()).upgrade_available, "0", label);
    const after = await f.boot();
    assertEquals(after.slotId, next === 3 ? "release-2 rootfs" : "factory image, slot A", label);
    return next === 3 ? "updated" : "old";
  }
  if (commit.code === 1) {
    // still pending, the new slot not running yet: boot it and commit
    await f.boot();
    const again = await f.ota("commit");
    assertEquals(again.code, 0, `${label}: ${again.stderr}`);
  }
  assertEquals((await f.ota("show-artifact")).stdout.trim(), "release-2", label);
  assertEquals((await f.boot()).slotId, "release-2 rootfs", label);
  return "pending";
}

/** The device is not wedged: the same update installs and commits from here. */
async function installsAgain(s: Setup, label: string): Promise<void> {
  const name = (await s.f.ota("show-artifact")).stdout.trim();
  if (name === "release-2") return;
  const install = await s.f.ota("install", s.artifact);
  assertEquals(install.code, 0, `${label}: reinstall: ${install.stderr}`);
  await s.f.boot();
  assertEquals((await s.f.ota("commit")).code, 0, `${label}: recommit`);
}

const stateCuts: [string, string[], boolean][] = [
  // [label, artifact scripts that kill ota, commit after install?]
  ["ArtifactInstall_Enter", ["ArtifactInstall_Enter_00"], false],
  ["ArtifactInstall_Leave", ["ArtifactInstall_Leave_00"], false],
  ["ArtifactCommit_Enter", ["ArtifactCommit_Enter_00"], true],
  ["ArtifactCommit_Leave", ["ArtifactCommit_Leave_00"], true],
];

for (const [label, scripts, commits] of stateCuts) {
  Deno.test(`power cut in ${label}`, async () => {
    const s = await setup({}, scripts);
    await using _ = s.f;
    const install = await s.f.ota("install", s.artifact);
    if (commits) {
      assertEquals(install.code, 0, install.stderr);
      await s.f.boot();
      await s.f.ota("commit");
    }
    const outcome = await afterCut(s, label);
    if (label.startsWith("ArtifactInstall")) assertEquals(outcome, "old");
    if (label === "ArtifactCommit_Leave") assertEquals(outcome, "updated");
    await installsAgain(s, label);
  });
}

for (
  const label of [
    "ArtifactRollback_Enter",
    "ArtifactRollback_Leave",
    "ArtifactFailure_Enter",
    "ArtifactFailure_Leave",
  ]
) {
  // rollback states: a rollback on request; failure states: an install whose script fails
  const failing = label.startsWith("ArtifactFailure");
  Deno.test(`power cut in ${label} (${failing ? "after a failed install" : "during a rollback"})`, async () => {
    const s = await setup({}, [`${label}_00`], failing ? ["ArtifactInstall_Enter_10_fails"] : []);
    await using _ = s.f;
    const install = await s.f.ota("install", s.artifact);
    if (!failing) {
      assertEquals(install.code, 0, install.stderr);
      await s.f.boot();
      await s.f.ota("rollback");
    }
    assertEquals(
      await Deno.stat(`${s.f.dir}/cut-${label}_00`).then(() => true),
      true,
      "the cut happened",
    );
    assertEquals(await afterCut(s, label), "old");
    if (!failing) await installsAgain(s, label);
    else assertEquals((await s.f.ota("install", await s.f.rootfsArtifact("release-3"))).code, 0);
  });
}

for (const label of ["Download_Enter", "Download_Leave"]) {
  Deno.test(`power cut in ${label} (a rootfs state script)`, async () => {
    const s = await setup();
    await using _ = s.f;
    const script = `${s.f.device.dir}/etc/mender/scripts/${label}_00`;
    await Deno.writeTextFile(script, killParentOnce(`${s.f.dir}/cut`), { mode: 0o755 });
    await s.f.ota("install", s.artifact);
    assertEquals(await afterCut(s, label), "old");
    await installsAgain(s, label);
  });
}

/** A wrapper around the real fw_setenv that kills ota before or after the n-th write. */
async function killingSetenv(f: Fixture, call: number, when: "before" | "after"): Promise<string> {
  const path = `${f.dir}/fw_setenv_cut`;
  const counter = `${f.dir}/fw_setenv_calls`;
  await Deno.writeTextFile(counter, "0");
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
n=$(( $(cat ${counter}) + 1 )); echo $n > ${counter}
if [ $n -eq ${call} ] && [ ${when} = before ]; then kill -9 $PPID; exit 1; fi
fw_setenv "$@"; rc=$?
if [ $n -eq ${call} ] && [ ${when} = after ]; then kill -9 $PPID; fi
exit $rc
`,
    { mode: 0o755 },
  );
  return path;
}

// Each bootloader write is two fw_setenv calls: Mender's separator probe, then the write.
for (
  const [call, when, label] of [
    [1, "after", "right after the separator probe before the switch"],
    [2, "before", "before the bootloader switch"],
    [2, "after", "right after the bootloader switch"],
    [4, "before", "before the commit's bootloader write"],
    [4, "after", "right after the commit's bootloader write"],
  ] as const
) {
  Deno.test(`power cut ${label}`, async () => {
    const s = await setup();
    await using _ = s.f;
    const wrapper = await killingSetenv(s.f, call, when);
    const config = JSON.parse(await Deno.readTextFile(s.f.device.config));
    await Deno.writeTextFile(s.f.device.config, JSON.stringify({ ...config, FwSetenv: wrapper }));
    const install = await s.f.ota("install", s.artifact);
    const inCommit = call > 2;
    if (inCommit) {
      assertEquals(install.code, 0, install.stderr);
      await s.f.boot();
      await s.f.ota("commit");
    }
    await Deno.writeTextFile(s.f.device.config, JSON.stringify(config));
    const outcome = await afterCut(s, label);
    if (!inCommit && (call === 1 || when === "before")) assertEquals(outcome, "old");
    if (inCommit && when === "after") assertEquals(outcome, "updated");
    await installsAgain(s, label);
  });
}

Deno.test("power cut at byte offsets while the image is written", async () => {
  const offsets = [600, 2048, 5000, 1_000_000, 4_000_000, 9_500_000, 16_000_000, -600];
  for (const at of offsets) {
    const s = await setup();
    await using _ = s.f;
    const bytes = await Deno.readFile(s.artifact);
    const offset = at < 0 ? bytes.length + at : at;
    const fifo = `${s.f.dir}/stream`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    const child = new Deno.Command(BINARY, {
      args: ["install", "--config", s.f.device.config, "--data", s.f.device.data, fifo],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const writer = await Deno.open(fifo, { write: true });
    await writer.write(bytes.subarray(0, offset)).catch(() => 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const early = await Promise.race([
      child.status,
      new Promise((r) => setTimeout(() => r(undefined), 10)),
    ]);
    assertEquals(early, undefined, `offset ${offset}: ota ended before the cut`);
    child.kill("SIGKILL");
    await child.status;
    try {
      writer.close();
    } catch { /* the reader is gone */ }
    // the artifact never arrived whole, so the update cannot have been switched to
    assertEquals(await afterCut(s, `offset ${offset}`), "old");
    await installsAgain(s, `offset ${offset}`);
  }
});
