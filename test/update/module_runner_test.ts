/**
 * The Update Module runner: streams mode and files mode deliver the verified bytes; a
 * module that dies, hangs, never opens a stream, stops reading mid-stream, answers
 * nonsense or prints too much ends the update with a clear error and the rollback path,
 * never a hang; unsafe or missing modules are refused before anything is installed.
 */
import { assert, assertEquals, assertStringIncludes, xorAt } from "../helpers/assert.ts";
import { ota, pseudoRandomBytes, sha256File } from "../helpers/mod.ts";
import { type Fixture, fixture } from "../e2e/fixture.ts";

const config = { ModuleTimeoutSeconds: 3 };

/** A module that logs every call and behaves as `body` says for the states it names. */
function module(
  log: string,
  body: string,
  answers = "NeedsArtifactReboot) echo No;;\n  SupportsRollback) echo Yes;;",
): string {
  return `#!/bin/sh
echo "$1" >> ${log}
case "$1" in
  ${answers}
${body}
esac
exit 0
`;
}

async function setup(
  name: string,
  script: string,
  files: Record<string, Uint8Array> = {},
  typeOverride?: string,
) {
  const f = await fixture({ config });
  const log = `${f.dir}/calls.log`;
  await Deno.writeTextFile(`${f.device.dir}/modules/${name}`, script.replaceAll("$LOG", log), {
    mode: 0o755,
  });
  const args: string[] = [];
  for (const [file, bytes] of Object.entries(files)) {
    await Deno.writeFile(`${f.dir}/${file}`, bytes);
    args.push("-f", `${f.dir}/${file}`);
  }
  const artifact = `${f.dir}/${name}.mender`;
  const write = await ota([
    "artifact",
    "write",
    "module-image",
    "-T",
    typeOverride ?? name,
    "-n",
    `${name}-1`,
    "-t",
    f.device.deviceType,
    "-o",
    artifact,
    ...args,
  ]);
  assertEquals(write.code, 0, write.stderr);
  const calls = async () =>
    (await Deno.readTextFile(log).catch(() => "")).trim().split("\n").filter(Boolean);
  return { f, artifact, log, calls };
}

const payload = {
  "a.bin": pseudoRandomBytes(3_000_000, 5),
  "b.txt": new TextEncoder().encode("second file\n"),
};

Deno.test("streams mode: the module reads stream-next and each stream; the bytes are the payload's", async () => {
  const { f, artifact, calls } = await setup(
    "streamer",
    module(
      "$LOG",
      `
  Download)
    mkdir -p tmp/got
    while true; do
      name=$(cat stream-next)
      [ -z "$name" ] && break
      cat "$name" > tmp/got/$(basename "$name")
    done;;
  ArtifactInstall) cp tmp/got/* ${"${2}"}/../../../../../got/ 2>/dev/null || { mkdir -p "$2/../../../../../got"; cp tmp/got/* "$2/../../../../../got/"; };;`,
    ),
    payload,
  );
  await using _ = f;
  const install = await f.ota("install", artifact);
  assertEquals(install.code, 0, install.stderr);
  const got = `${f.device.data}/got`;
  assertEquals(await sha256File(`${got}/a.bin`), await sha256File(`${f.dir}/a.bin`));
  assertEquals(await Deno.readTextFile(`${got}/b.txt`), "second file\n");
  assertEquals(await calls(), [
    "Download",
    "ArtifactInstall",
    "NeedsArtifactReboot",
    "SupportsRollback",
  ]);
  assertEquals((await f.ota("commit")).code, 0);
  assertEquals((await calls()).slice(4), ["ArtifactCommit", "Cleanup"]);
});

Deno.test("a relative --data still reaches the module: its paths are absolute", async () => {
  const { f, artifact } = await setup(
    "relative",
    module(
      "$LOG",
      `
  Download)
    while true; do
      name=$(cat "$2/stream-next")
      [ -z "$name" ] && break
      cat "$2/$name" > "$2/../../../../../got-$(basename "$name")"
    done;;`,
    ),
    payload,
  );
  await using _ = f;
  const data = f.device.data.slice(f.dir.length + 1);
  const install = await ota(
    ["install", "--config", f.device.config, "--data", data, artifact],
    { cwd: f.dir },
  );
  assertEquals(install.code, 0, install.stderr);
  assertEquals(
    await sha256File(`${f.device.data}/got-a.bin`),
    await sha256File(`${f.dir}/a.bin`),
  );
});

Deno.test("a payload that turns out corrupt mid-stream ends with one coded error, not a crash", async () => {
  const { f, artifact } = await setup(
    "corrupt",
    module(
      "$LOG",
      `
  Download)
    # a slow reader: ota still has a write pending when the corrupt bytes arrive
    while true; do
      name=$(cat "$2/stream-next")
      [ -z "$name" ] && break
      exec 3< "$2/$name"
      while [ "$(head -c 65536 <&3 | wc -c)" -gt 0 ]; do sleep 0.02; done
    done;;`,
    ),
    payload,
  );
  await using _ = f;
  const good = await Deno.readFile(artifact);
  const bad = good.slice();
  xorAt(bad, Math.floor(bad.length / 2), 0xff); // inside the 3 MB payload file
  await Deno.writeFile(`${f.dir}/bad.mender`, bad);
  const install = await f.ota("install", `${f.dir}/bad.mender`);
  assertEquals(install.code, 1);
  assert(/\[(GZIP_CORRUPT|CHECKSUM_MISMATCH)\]/.test(install.stderr), install.stderr);
  assert(!/^\s+at /m.test(install.stderr), "no stack trace");
  assertEquals((await f.ota("install", artifact)).code, 0, "the good artifact installs after it");
});

Deno.test("files mode: a module that does not open stream-next finds verified files under files/", async () => {
  const { f, artifact } = await setup(
    "filer",
    module(
      "$LOG",
      `
  ArtifactInstall) mkdir -p "$2/../../../../../got" && cp "$2"/files/* "$2/../../../../../got/" && cat "$2/header/artifact_name" > "$2/../../../../../got/name";;`,
    ),
    payload,
  );
  await using _ = f;
  assertEquals((await f.ota("install", artifact)).code, 0);
  const got = `${f.device.data}/got`;
  assertEquals(await sha256File(`${got}/a.bin`), await sha256File(`${f.dir}/a.bin`));
  assertEquals(await Deno.readTextFile(`${got}/name`), "filer-1");
});

Deno.test("the file tree: version, current artifact and device type, header files", async () => {
  const { f, artifact } = await setup(
    "treewatcher",
    module(
      "$LOG",
      `
  ArtifactInstall) mkdir -p "$2/../../../../../tree" && cp -r "$2"/version "$2"/current_* "$2"/header "$2/../../../../../tree/";;`,
    ),
    payload,
  );
  await using _ = f;
  assertEquals((await f.ota("install", artifact)).code, 0);
  const tree = `${f.device.data}/tree`;
  assertEquals(await Deno.readTextFile(`${tree}/version`), "3\n");
  assertEquals(await Deno.readTextFile(`${tree}/current_artifact_name`), "factory-image\n");
  assertEquals(await Deno.readTextFile(`${tree}/current_device_type`), "sim-board\n");
  assertEquals(await Deno.readTextFile(`${tree}/header/payload_type`), "treewatcher");
  assertEquals(
    JSON.parse(await Deno.readTextFile(`${tree}/header/header-info`)).artifact_provides
      .artifact_name,
    "treewatcher-1",
  );
  assertEquals(JSON.parse(await Deno.readTextFile(`${tree}/header/type-info`)).type, "treewatcher");
});

interface FailureCase {
  name: string;
  body: string;
  answers?: string;
  code: string;
  /** States the module must have been called with, in order, after Download. */
  after: string[];
}

const failures: FailureCase[] = [
  {
    name: "dies-in-download",
    body: "  Download) exit 3;;",
    code: "MODULE_FAILED",
    after: ["Cleanup"],
  },
  {
    name: "never-opens-stream",
    body: "  Download) cat stream-next > /dev/null; sleep 60;;",
    code: "MODULE_TIMEOUT",
    after: ["Cleanup"],
  },
  {
    name: "stops-mid-stream",
    body: '  Download) n=$(cat stream-next); head -c 100000 "$n" > /dev/null; sleep 60;;',
    code: "MODULE",
    after: ["Cleanup"],
  },
  {
    name: "ignores-sigterm",
    body: "  Download) trap '' TERM; sleep 60;;",
    code: "MODULE_TIMEOUT",
    after: ["Cleanup"],
  },
  {
    name: "dies-in-install",
    body: "  ArtifactInstall) exit 2;;",
    code: "MODULE_FAILED",
    after: [
      "ArtifactInstall",
      "SupportsRollback",
      "ArtifactRollback",
      "ArtifactFailure",
      "Cleanup",
    ],
  },
  {
    name: "hangs-in-install",
    body: "  ArtifactInstall) sleep 60;;",
    code: "MODULE_TIMEOUT",
    after: [
      "ArtifactInstall",
      "SupportsRollback",
      "ArtifactRollback",
      "ArtifactFailure",
      "Cleanup",
    ],
  },
  {
    name: "bad-answer",
    body: "",
    answers: "NeedsArtifactReboot) echo Maybe;;\n  SupportsRollback) echo Yes;;",
    code: "MODULE_ANSWER",
    after: [
      "ArtifactInstall",
      "NeedsArtifactReboot",
      "SupportsRollback",
      "ArtifactRollback",
      "ArtifactFailure",
      "Cleanup",
    ],
  },
  {
    name: "talks-too-much",
    body: "",
    answers:
      "NeedsArtifactReboot) head -c 100000 /dev/zero | tr '\\\\0' x;;\n  SupportsRollback) echo No;;",
    code: "MODULE_OUTPUT",
    after: [
      "ArtifactInstall",
      "NeedsArtifactReboot",
      "SupportsRollback",
      "ArtifactFailure",
      "Cleanup",
    ],
  },
];

for (const c of failures) {
  Deno.test(`a module that ${c.name.replaceAll("-", " ")}: clear error, error path, no hang`, async () => {
    const started = Date.now();
    const { f, artifact, calls } = await setup(c.name, module("$LOG", c.body, c.answers), payload);
    await using _ = f;
    const install = await f.ota("install", artifact);
    assertEquals(install.code, 1, install.stderr);
    assertStringIncludes(install.stderr, `[${c.code}`);
    assertEquals((await calls()).slice(1), c.after);
    assertEquals((await f.ota("show-artifact")).stdout.trim(), "factory-image");
    assertEquals((await f.ota("commit")).code, 2, "nothing is left in progress");
    assert(
      Date.now() - started < 40_000,
      "bounded by ModuleTimeoutSeconds, not the module's sleep",
    );
  });
}

async function refused(f: Fixture, artifact: string, code: string) {
  const result = await f.ota("install", artifact);
  assertEquals(result.code, 1, result.stderr);
  assertStringIncludes(result.stderr, `[${code}]`);
  assertEquals((await f.ota("commit")).code, 2);
  assertEquals((await f.state()).upgrade, "0");
}

Deno.test("a missing or non-executable module, or a type with path tricks, is refused before anything happens", async () => {
  const { f, artifact } = await setup("present", module("$LOG", ""), payload);
  await using _ = f;
  await Deno.remove(`${f.device.dir}/modules/present`);
  await refused(f, artifact, "MODULE_MISSING");
  await Deno.writeTextFile(`${f.device.dir}/modules/present`, "#!/bin/sh\nexit 0\n", {
    mode: 0o644,
  });
  await refused(f, artifact, "MODULE_NOT_EXECUTABLE");
  for (const type of ["../present", "sub/present", ".."]) {
    const evil = `${f.dir}/evil.mender`;
    const write = await ota([
      "artifact",
      "write",
      "module-image",
      "-T",
      type,
      "-n",
      "evil",
      "-t",
      f.device.deviceType,
      "-o",
      evil,
      "-f",
      `${f.dir}/b.txt`,
    ]);
    assertEquals(write.code, 0, write.stderr);
    await refused(f, evil, "UNSAFE_NAME");
  }
});
