/**
 * The directory module, unchanged, under the REAL Mender client 3.4 (`mender install`,
 * `commit`, `rollback`) and under ota's own module runner (`ota install`, ...), with
 * artifacts written by `ota artifact write`, by the real `mender-artifact write
 * module-image`, and by Mender's own directory-artifact-gen.
 */
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import {
  type ClientName,
  createMenderDevice,
  menderClientAvailable,
  type MenderDevice,
  runClient,
  showArtifact,
  showProvides,
} from "../helpers/mender_client.ts";
import { ota, ROOT, run, sh } from "../helpers/mod.ts";
import { buildTree, snapshot, swapLeftovers, type TreeSpec } from "./tree_snapshot.ts";

const ignoreMender = !menderClientAvailable();
const CLIENTS: ClientName[] = ["mender", "ota"];
const GEN = "/usr/share/doc/mender-client/examples/directory-artifact-gen";
const OLD: TreeSpec = { "index.html": "<p>v1</p>\n", "conf/app.ini": "v=1\n" };
const NEW: TreeSpec = {
  "index.html": "<p>v2</p>\n",
  "assets/app.js": "console.log(2)\n",
  "run": { content: "#!/bin/sh\n", mode: 0o755 },
};

const work = await Deno.makeTempDir({ prefix: "ota-dir-mender-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
await buildTree(`${work}/src-old`, OLD);
await buildTree(`${work}/src-new`, NEW);
const oldPicture = await snapshot(`${work}/src-old`);
const newPicture = await snapshot(`${work}/src-new`);
let count = 0;

interface Case {
  device: MenderDevice;
  target: string;
}

async function setup(): Promise<Case> {
  const root = `${work}/case-${++count}`;
  const target = `${root}/srv/www`;
  await Deno.mkdir(`${root}/srv`, { recursive: true });
  await sh(["cp", "-a", `${work}/src-old`, target]);
  const device = await createMenderDevice(`${root}/device`, {
    modules: { directory: `${ROOT}/modules/directory/directory` },
  });
  return { device, target };
}

/** The payload files Mender's generator makes: update.tar and dest_dir. */
async function payloadFiles(dir: string, target: string, tarSource = `${work}/src-new`) {
  await Deno.mkdir(dir, { recursive: true });
  await sh(["tar", "-cf", `${dir}/update.tar`, "-C", tarSource, "."]);
  await Deno.writeTextFile(`${dir}/dest_dir`, `${target}\n`);
  return ["-f", `${dir}/update.tar`, "-f", `${dir}/dest_dir`];
}

const writers = {
  async ota(target: string, name: string, out: string) {
    const files = await payloadFiles(`${out}.d`, target);
    const args = ["artifact", "write", "module-image", "-T", "directory", "-n", name];
    const result = await ota([...args, "-t", "test-device", ...files, "-o", out, "--no-progress"]);
    assertEquals(result.code, 0, result.stderr);
  },
  async "mender-artifact"(target: string, name: string, out: string) {
    const files = await payloadFiles(`${out}.d`, target);
    await sh([
      "mender-artifact",
      "write",
      "module-image",
      "-T",
      "directory",
      "-n",
      name,
      "-t",
      "test-device",
      ...files,
      "-o",
      out,
    ]);
  },
  async "directory-artifact-gen"(target: string, name: string, out: string) {
    await Deno.mkdir(`${out}.d`, { recursive: true });
    await sh([
      "bash",
      GEN,
      "-n",
      name,
      "-t",
      "test-device",
      "-d",
      target,
      "-o",
      out,
      `${work}/src-new`,
    ], {
      cwd: `${out}.d`,
    });
  },
};

async function client(
  name: ClientName,
  device: MenderDevice,
  command: string,
  args: string[] = [],
  expectCode = 0,
) {
  const result = await runClient(name, device, command, args);
  const what = `${name} ${command} ${args.join(" ")}`;
  assertEquals(result.code, expectCode, `${what}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

for (const c of CLIENTS) {
  const ignore = c === "mender" && ignoreMender;
  for (const [writer, write] of Object.entries(writers)) {
    const skip = ignore || (writer === "directory-artifact-gen" && !(await exists(GEN)));

    Deno.test({
      name: `directory under ${c} (${writer} artifact): install, commit`,
      ignore: skip,
      async fn() {
        const { device, target } = await setup();
        const artifact = `${device.dir}/../www-2.mender`;
        await write(target, "www-2", artifact);
        const install = await client(c, device, "install", [artifact]);
        assertStringIncludes(install.stdout, "Use 'commit' to update");
        assert(!/reboot/i.test(install.stdout), "a directory update needs no reboot");
        assertEquals(await snapshot(target), newPicture);
        assertEquals(await showArtifact(device, c), "factory-image", "not committed yet");
        await client(c, device, "commit");
        assertEquals(await snapshot(target), newPicture);
        assertEquals(await swapLeftovers(target), []);
        assertEquals(await showArtifact(device, c), "www-2");
        assertEquals((await showProvides(device, c))["rootfs-image.directory.version"], "www-2");
        await client(c, device, "commit", [], 2);
      },
    });

    Deno.test({
      name: `directory under ${c} (${writer} artifact): install, rollback`,
      ignore: skip,
      async fn() {
        const { device, target } = await setup();
        const artifact = `${device.dir}/../www-2.mender`;
        await write(target, "www-2", artifact);
        await client(c, device, "install", [artifact]);
        assertEquals(await snapshot(target), newPicture);
        await client(c, device, "rollback");
        assertEquals(await snapshot(target), oldPicture);
        assertEquals(await swapLeftovers(target), []);
        assertEquals(await showArtifact(device, c), "factory-image");
        await client(c, device, "rollback", [], 2);
      },
    });
  }

  Deno.test({
    name: `directory under ${c}: a failing install is rolled back by the client`,
    ignore,
    async fn() {
      const { device, target } = await setup();
      const dir = `${device.dir}/../bad`;
      const files = await payloadFiles(dir, target);
      await Deno.writeTextFile(`${dir}/update.tar`, "this is not a tar archive\n".repeat(100));
      const artifact = `${dir}/bad.mender`;
      await sh([
        "mender-artifact",
        "write",
        "module-image",
        "-T",
        "directory",
        "-n",
        "www-bad",
        "-t",
        "test-device",
        ...files,
        "-o",
        artifact,
      ]);
      const result = await client(c, device, "install", [artifact], 1);
      assertStringIncludes(result.stdout + result.stderr, "DIRECTORY_UNPACK");
      assertEquals(await snapshot(target), oldPicture);
      assertEquals(await swapLeftovers(target), []);
      assertEquals(await showArtifact(device, c), "factory-image");
    },
  });

  Deno.test({
    name: `directory under ${c}: a new destination is created, and removed on rollback`,
    ignore,
    async fn() {
      const { device } = await setup();
      const target = `${device.dir.replace(/\/device$/, "")}/fresh/app`;
      const artifact = `${device.dir}/../fresh.mender`;
      await writers.ota(target, "fresh-1", artifact);
      await client(c, device, "install", [artifact]);
      assertEquals(await snapshot(target), newPicture);
      await client(c, device, "rollback");
      assertEquals(await snapshot(target), undefined);
      const left = await run(["ls", "-A", target.replace(/\/app$/, "")]);
      assertEquals(left.stdout, "");
    },
  });
}

for (const c of CLIENTS) {
  Deno.test({
    name: `directory under ${c}: the module killed at every step of ArtifactInstall is rolled back`,
    ignore: c === "mender" && ignoreMender,
    async fn() {
      const { device, target } = await setup();
      const artifact = `${device.dir}/../www-2.mender`;
      await writers.ota(target, "www-2", artifact);
      for (let n = 1;; n++) {
        const env = {
          OTA_MODULE_CRASH_STATE: "ArtifactInstall",
          OTA_MODULE_CRASH_AFTER_STEP: String(n),
        };
        const result = await runClient(c, device, "install", [artifact], { env });
        if (result.code === 0) {
          // Past the last step: the install went through.
          assert(n > 5, `install finished after only ${n - 1} steps`);
          assertEquals(await snapshot(target), newPicture);
          await client(c, device, "rollback");
          break;
        }
        assertEquals(await snapshot(target), oldPicture, `killed after step ${n}`);
        assertEquals(await swapLeftovers(target), [], `killed after step ${n}`);
        assertEquals(await showArtifact(device, c), "factory-image");
      }
      assertEquals(await snapshot(target), oldPicture);
    },
  });
}

async function exists(path: string) {
  return await Deno.stat(path).then(() => true, () => false);
}
