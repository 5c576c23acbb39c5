/**
 * State scripts: exit 21 retries within the retry timeout, a script past its timeout
 * fails the state, the `version` file is checked, non-executable or misnamed files are
 * ignored, Artifact* scripts come only from the artifact, and output reaches the update log.
 */
import { assert, assertEquals, assertStringIncludes, at } from "../helpers/assert.ts";
import { ota } from "../helpers/mod.ts";
import { fixture } from "../e2e/fixture.ts";

const timing = {
  StateScriptRetryIntervalSeconds: 1,
  StateScriptRetryTimeoutSeconds: 4,
  StateScriptTimeoutSeconds: 2,
};

async function withScripts(scripts: Record<string, string>, rootfs: Record<string, string> = {}) {
  const f = await fixture({ config: timing });
  const dir = `${f.dir}/scripts`;
  await Deno.mkdir(dir);
  const args: string[] = [];
  for (const [name, body] of Object.entries(scripts)) {
    await Deno.writeTextFile(`${dir}/${name}`, body, { mode: 0o755 });
    args.push("-s", `${dir}/${name}`);
  }
  for (const [name, body] of Object.entries(rootfs)) {
    await Deno.writeTextFile(`${f.device.dir}/etc/mender/scripts/${name}`, body, {
      mode: name.startsWith("noexec") ? 0o644 : 0o755,
    });
  }
  const artifact = await f.rootfsArtifact("release-2", { extra: args });
  return { f, artifact };
}

Deno.test("exit 21 retries the script until it succeeds", async () => {
  const { f, artifact } = await withScripts({
    ArtifactInstall_Enter_00:
      `#!/bin/sh\nn=$(cat /tmp/ota-retry-$PPID 2>/dev/null || echo 0)\necho $((n+1)) > /tmp/ota-retry-$PPID\n[ $n -ge 2 ] && exit 0\nexit 21\n`,
  });
  await using _ = f;
  const install = await f.ota("install", artifact);
  assertEquals(install.code, 0, install.stderr);
  assertEquals(install.stderr.match(/asked to retry later/g)?.length, 2);
});

Deno.test("exit 21 past StateScriptRetryTimeoutSeconds fails the state and rolls back", async () => {
  const { f, artifact } = await withScripts({ ArtifactInstall_Enter_00: "#!/bin/sh\nexit 21\n" });
  await using _ = f;
  const started = Date.now();
  const install = await f.ota("install", artifact);
  assertEquals(install.code, 1);
  assertStringIncludes(install.stderr, "[SCRIPT_TIMEOUT]");
  assert(Date.now() - started < 15_000);
  assertEquals((await f.state()).upgrade, "0");
});

Deno.test("a script running past StateScriptTimeoutSeconds is stopped and fails the state", async () => {
  const { f, artifact } = await withScripts({ ArtifactCommit_Enter_00: "#!/bin/sh\nsleep 30\n" });
  await using _ = f;
  assertEquals((await f.ota("install", artifact)).code, 0);
  await f.boot();
  const started = Date.now();
  const commit = await f.ota("commit");
  assertEquals(commit.code, 1);
  assertStringIncludes(commit.stderr, "[SCRIPT_TIMEOUT]");
  assert(Date.now() - started < 15_000, "the script's sleep was not waited for");
  assertEquals((await f.ota("show-artifact")).stdout.trim(), "factory-image");
});

Deno.test("a version file other than 2 or 3 fails the update; non-executable and misnamed files are ignored", async () => {
  const ran = "/tmp/ota-script-ran-" + crypto.randomUUID();
  const { f, artifact } = await withScripts({}, {
    Download_Enter_00: `#!/bin/sh\ntouch ${ran}\n`,
    "noexec_Download_Enter_01": "#!/bin/sh\nexit 1\n",
    "Download_Enter_x": "#!/bin/sh\nexit 1\n",
    "version": "3\n",
  });
  await using _ = f;
  await Deno.chmod(`${f.device.dir}/etc/mender/scripts/version`, 0o644);
  assertEquals((await f.ota("install", artifact)).code, 0);
  assert(await Deno.stat(ran).then(() => true, () => false), "the executable script ran");
  await Deno.remove(ran);
  await f.ota("rollback");
  await Deno.writeTextFile(`${f.device.dir}/etc/mender/scripts/version`, "4\n");
  const refused = await f.ota("install", artifact);
  assertEquals(refused.code, 1);
  assertStringIncludes(refused.stderr, "[SCRIPT_VERSION]");
});

Deno.test("after a power cut: damaged stored scripts do not stop a rollback; a half-done swap of the scripts directory still finds them", async () => {
  const marker = `${Deno.makeTempDirSync()}/rolled-back`;
  const { f, artifact } = await withScripts({
    ArtifactRollback_Enter_00: `#!/bin/sh\necho rollback >> ${marker}\n`,
  });
  await using _ = f;
  const stored = `${f.device.data}/scripts`;

  assertEquals((await f.ota("install", artifact)).code, 0);
  // what ext4 shows of a file written without fsync after a power cut
  await Deno.writeFile(`${stored}/version`, new Uint8Array(2));
  const rollback = await f.ota("rollback");
  assertEquals(rollback.code, 0, rollback.stderr);
  assertStringIncludes(rollback.stderr, "skipped");
  assertEquals(await Deno.stat(marker).then(() => true, () => false), false);
  assertEquals((await f.env()).upgrade_available, "0");

  assertEquals((await f.ota("install", artifact)).code, 0);
  await Deno.rename(stored, `${stored}.new`); // cut between the two renames of the swap
  assertEquals((await f.ota("rollback")).code, 0);
  assertEquals(await Deno.readTextFile(marker), "rollback\n");
});

Deno.test("Artifact* scripts on the root filesystem are not run; those from the artifact are", async () => {
  const log = `${Deno.makeTempDirSync()}/log`;
  const { f, artifact } = await withScripts(
    { ArtifactInstall_Enter_00: `#!/bin/sh\necho artifact >> ${log}\n` },
    { ArtifactInstall_Enter_00: `#!/bin/sh\necho rootfs >> ${log}\n` },
  );
  await using _ = f;
  assertEquals((await f.ota("install", artifact)).code, 0);
  assertEquals(await Deno.readTextFile(log), "artifact\n");
});

Deno.test("script output goes to the update log", async () => {
  const { f, artifact } = await withScripts({
    ArtifactInstall_Leave_00: "#!/bin/sh\necho hello-from-the-script\necho to-stderr >&2\n",
  });
  await using _ = f;
  assertEquals((await f.ota("install", artifact)).code, 0);
  const logs = [...Deno.readDirSync(f.device.data)].filter((e) =>
    /^deployments\.0001\..*\.log$/.test(e.name)
  );
  assertEquals(logs.length, 1);
  const lines = (await Deno.readTextFile(`${f.device.data}/${at(logs, 0).name}`)).trim().split("\n")
    .map((l) => JSON.parse(l));
  assert(lines.some((l) => l.message.includes("hello-from-the-script")));
  assert(lines.some((l) => l.message.includes("to-stderr")));
  // a state script name with a path in the artifact is refused by the writer and the reader
  const bad = await ota([
    "artifact",
    "write",
    "rootfs-image",
    "-n",
    "x",
    "-t",
    "sim-board",
    "-f",
    artifact,
    "-o",
    `${f.dir}/x.mender`,
    "-s",
    `${f.dir}/Idle_Enter_00`,
  ]);
  assertEquals(bad.code, 1);
});
