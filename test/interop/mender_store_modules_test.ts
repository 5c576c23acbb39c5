/**
 * A device switched between the REAL Mender client 3.4 and ota on one data directory
 * (Mender's, as on a device in the field): what Mender installed and committed, ota
 * reports and depends on; an update Mender left uncommitted, ota commits or rolls back;
 * and what ota installs, Mender (switched back) reports, depends on, commits and rolls back.
 * The payloads go through Mender's own single-file Update Module.
 */
import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import {
  createMenderDevice,
  menderClientAvailable,
  type MenderDevice,
  runMender,
  runOta,
  showArtifact,
  showProvides,
} from "../helpers/mender_client.ts";
import { type RunResult, sh } from "../helpers/mod.ts";

const ignore = !menderClientAvailable();
const MODULE = "/usr/share/mender/modules/v3/single-file";

interface Switched {
  device: MenderDevice;
  work: string;
  dest: string;
  /** An artifact that puts `content` into dest/payload.txt; `depends` as `key:value`. */
  artifact(name: string, content: string, depends?: string): Promise<string>;
  ota(command: string, args?: string[]): Promise<RunResult>;
  mender(command: string, args?: string[]): Promise<RunResult>;
  /** show-artifact and show-provides of both clients, which must agree. */
  same(): Promise<{ name: string; provides: Record<string, string> }>;
}

async function withSwitched(fn: (s: Switched) => Promise<void>) {
  const work = await Deno.makeTempDir({ prefix: "ota-mender-store-" });
  const device = await createMenderDevice(`${work}/device`, { modules: { "single-file": MODULE } });
  const dest = `${work}/dest`;
  await Deno.mkdir(dest);
  const s: Switched = {
    device,
    work,
    dest,
    async artifact(name, content, depends) {
      const dir = `${work}/${name}`;
      await Deno.mkdir(dir);
      const files = { dest_dir: dest, filename: "payload.txt", permissions: "0644" };
      for (const [file, text] of Object.entries(files)) {
        await Deno.writeTextFile(`${dir}/${file}`, text);
      }
      await Deno.writeTextFile(`${dir}/payload.txt`, content);
      const out = `${work}/${name}.mender`;
      await sh([
        "mender-artifact",
        "write",
        "module-image",
        "-T",
        "single-file",
        "-n",
        name,
        "-t",
        "test-device",
        ...["dest_dir", "filename", "permissions", "payload.txt"].flatMap((f) => [
          "-f",
          `${dir}/${f}`,
        ]),
        "--provides",
        `rootfs-image.single-file.version:${name}`,
        ...(depends ? ["--depends", depends] : []),
        "-o",
        out,
      ]);
      return out;
    },
    ota: (command, args = []) => runOta(device, command, args, { dataDir: device.dataDir }),
    mender: (command, args = []) => runMender(device, [command, ...args], { logLevel: "error" }),
    async same() {
      const name = await showArtifact(device, "mender");
      assertEquals(await showArtifactOta(s), name, "show-artifact");
      const provides = await showProvides(device, "mender");
      const otaProvides = await s.ota("show-provides");
      assertEquals(otaProvides.code, 0, otaProvides.stderr);
      assertEquals(parseLines(otaProvides.stdout), provides, "show-provides");
      return { name, provides };
    },
  };
  try {
    await fn(s);
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

async function showArtifactOta(s: Switched): Promise<string> {
  const result = await s.ota("show-artifact");
  assertEquals(result.code, 0, result.stderr);
  return result.stdout.trim();
}

function parseLines(text: string): Record<string, string> {
  return Object.fromEntries(
    text.trim().split("\n").filter(Boolean).map((
      l,
    ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

function ok(result: RunResult, what: string) {
  assertEquals(result.code, 0, `${what}: ${result.stdout}\n${result.stderr}`);
}

const payload = (s: Switched) => Deno.readTextFile(`${s.dest}/payload.txt`);

Deno.test({
  name: "mender store: ota reports and depends on what Mender 3.4 installed and committed",
  ignore,
  fn: () =>
    withSwitched(async (s) => {
      ok(await s.mender("install", [await s.artifact("rel-2", "two\n")]), "mender install");
      ok(await s.mender("commit"), "mender commit");
      const seen = await s.same();
      assertEquals(seen.name, "rel-2");
      assertEquals(seen.provides, {
        artifact_name: "rel-2",
        "rootfs-image.single-file.version": "rel-2",
      });
      // the next artifact depends on what Mender committed
      const next = await s.artifact("rel-3", "three\n", "rootfs-image.single-file.version:rel-2");
      ok(await s.ota("install", [next]), "ota install with depends");
      ok(await s.ota("commit"), "ota commit");
      assertEquals(await payload(s), "three\n");
      // and Mender, switched back, reports what ota committed and depends on it
      assertEquals((await s.same()).name, "rel-3");
      const after = await s.artifact("rel-4", "four\n", "rootfs-image.single-file.version:rel-3");
      ok(await s.mender("install", [after]), "mender install depending on ota's provides");
      ok(await s.mender("commit"), "mender commit");
      assertEquals((await s.same()).name, "rel-4");
      // a depends that does not hold is refused by ota as by Mender
      const wrong = await s.artifact("rel-5", "five\n", "rootfs-image.single-file.version:rel-2");
      const refused = await s.ota("install", [wrong]);
      assertEquals(refused.code, 1);
      assertStringIncludes(refused.stderr, "rootfs-image.single-file.version");
      assertEquals((await s.mender("install", [wrong])).code, 1);
      assertEquals(await payload(s), "four\n");
    }),
});

Deno.test({
  name: "mender store: ota commits and rolls back updates Mender 3.4 left uncommitted",
  ignore,
  fn: () =>
    withSwitched(async (s) => {
      ok(await s.mender("install", [await s.artifact("rel-2", "two\n")]), "mender install");
      ok(await s.mender("commit"), "mender commit");
      ok(await s.mender("install", [await s.artifact("rel-3", "three\n")]), "mender install");
      assertEquals(await payload(s), "three\n");
      assertEquals(await showArtifactOta(s), "rel-2");
      // ota refuses a new install while Mender's update waits, as Mender would
      const blocked = await s.ota("install", [await s.artifact("rel-x", "x\n")]);
      assertEquals(blocked.code, 1);
      assertStringIncludes(blocked.stderr, "rel-3");
      const committed = await s.ota("commit");
      ok(committed, "ota commit of Mender's update");
      assertStringIncludes(committed.stdout, "Committed.");
      assertEquals((await s.same()).name, "rel-3");
      assertEquals((await s.ota("commit")).code, 2, "nothing left to commit");
      assertEquals((await s.mender("commit")).code, 2, "Mender has nothing to commit either");

      ok(await s.mender("install", [await s.artifact("rel-4", "four\n")]), "mender install");
      assertEquals(await payload(s), "four\n");
      ok(await s.ota("rollback"), "ota rollback of Mender's update");
      assertEquals(await payload(s), "three\n", "the module restored its backup");
      const seen = await s.same();
      assertEquals(seen.name, "rel-3");
      assertEquals(seen.provides["rootfs-image.single-file.version"], "rel-3");
      assertEquals((await s.ota("rollback")).code, 2);
    }),
});

Deno.test({
  name: "mender store: Mender 3.4, switched back, commits and rolls back what ota installed",
  ignore,
  fn: () =>
    withSwitched(async (s) => {
      ok(await s.ota("install", [await s.artifact("rel-2", "two\n")]), "ota install");
      ok(await s.mender("commit"), "mender commit of ota's update");
      assertEquals(await payload(s), "two\n");
      assertEquals((await s.same()).name, "rel-2");
      assertEquals((await s.ota("commit")).code, 2, "ota sees the update finished");

      ok(await s.ota("install", [await s.artifact("rel-3", "three\n")]), "ota install");
      assertEquals(await payload(s), "three\n");
      ok(await s.mender("rollback"), "mender rollback of ota's update");
      assertEquals(await payload(s), "two\n");
      assertEquals((await s.same()).name, "rel-2");
      assertEquals((await s.ota("rollback")).code, 2);
      // ota goes on from there
      ok(await s.ota("install", [await s.artifact("rel-4", "four\n")]), "ota install");
      ok(await s.ota("commit"), "ota commit");
      assertEquals((await s.same()).name, "rel-4");
    }),
});

Deno.test({
  name: "show-artifact and show-provides before the first update: ota prints what Mender 3.4 does",
  ignore,
  fn: () =>
    withSwitched(async (s) => {
      const info = `${s.device.dir}/etc/mender/artifact_info`;
      const cases: [string, string | undefined][] = [
        ["with artifact_info", "artifact_name=factory-image\n"],
        ["without artifact_info", undefined],
        ["with a group too", "artifact_group=g1\nartifact_name=factory-image\n"],
        ["with no name in it", "# nothing here\n"],
        ["with an empty name", "artifact_name=\n"],
        ["with a broken line", "artifact_name=a\nbroken\n"],
        ["with the name twice", "artifact_name=a\nartifact_name=b\n"],
      ];
      for (const [what, content] of cases) {
        await Deno.remove(info).catch(() => {});
        if (content !== undefined) await Deno.writeTextFile(info, content);
        for (const command of ["show-artifact", "show-provides"]) {
          const mender = await s.mender(command);
          const ota = await s.ota(command);
          assertEquals(
            [ota.code, ota.stdout],
            [mender.code, mender.stdout],
            `${command} ${what}: mender said ${mender.stderr}, ota ${ota.stderr}`,
          );
          if (mender.code !== 0) assertStringIncludes(ota.stderr, "[ARTIFACT_INFO_INVALID]");
        }
      }
    }),
});
