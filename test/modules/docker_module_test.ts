/**
 * The docker module through `ota module docker` with a real podman: the protocol answers,
 * meta-data checks, Mender's own meta-data form, and a kill at every step of an install
 * followed by ArtifactRollback (the old container is back, unchanged) or by ArtifactInstall
 * again (the new one runs).
 */
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { ota, type RunResult } from "../helpers/mod.ts";
import {
  buildBusyboxImage,
  containerState,
  type Podman,
  podmanAvailable,
  privatePodman,
  SERVICE,
} from "../helpers/podman.ts";

const ignore = !podmanAvailable();
let cases = 0;

interface Setup {
  p: Podman;
  tree: string;
  v1: string;
  v2: string;
}

async function withPodman(fn: (s: Omit<Setup, "tree"> & { work: string }) => Promise<void>) {
  const work = await Deno.makeTempDir({ prefix: "ota-docker-module-" });
  const p = await privatePodman(`${work}/podman`);
  try {
    const v1 = await buildBusyboxImage(p, "localhost/app:1", { "app/version": "1\n" }, SERVICE);
    const v2 = await buildBusyboxImage(p, "localhost/app:2", { "app/version": "2\n" }, SERVICE);
    await p.must(["save", "-o", `${work}/app-2.tar`, "localhost/app:2"]);
    await fn({ p, v1, v2, work });
  } finally {
    await p[Symbol.asyncDispose]();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/** A file tree as the client makes it, with meta-data and the given payload files. */
async function fileTree(work: string, meta: unknown, files: string[] = []): Promise<string> {
  const tree = `${work}/tree-${++cases}`;
  for (const sub of ["header", "files", "tmp"]) {
    await Deno.mkdir(`${tree}/${sub}`, { recursive: true });
  }
  await Deno.writeTextFile(`${tree}/version`, "3\n");
  await Deno.writeTextFile(`${tree}/header/artifact_name`, "app-2");
  await Deno.writeTextFile(`${tree}/header/meta-data`, JSON.stringify(meta));
  for (const file of files) await Deno.copyFile(file, `${tree}/files/${file.split("/").pop()}`);
  return tree;
}

function module(p: Podman, state: string, tree: string, crashAfter?: number): Promise<RunResult> {
  const env: Record<string, string> = { ...p.env, OTA_CONTAINER_ENGINE: "podman" };
  if (crashAfter !== undefined) env.OTA_MODULE_CRASH_AFTER_STEP = String(crashAfter);
  env.OTA_MODULE_TRACE_STEPS = "1";
  return ota(["module", "docker", state, tree], { cwd: tree, env });
}

async function mustPass(p: Podman, state: string, tree: string) {
  const result = await module(p, state, tree);
  assertEquals(result.code, 0, `${state}: ${result.stderr}`);
  return result;
}

const WEB = {
  containers: [{ name: "web", image: "localhost/app:2", run_args: ["--network=none"] }],
  stop_timeout: 1,
  settle_seconds: 0,
};

Deno.test({
  name: "docker module: queries, unknown states and meta-data checks",
  ignore,
  sanitizeResources: false,
  fn: () =>
    withPodman(async ({ p, work }) => {
      const tree = await fileTree(work, WEB);
      assertEquals((await module(p, "NeedsArtifactReboot", tree)).stdout, "No\n");
      assertEquals((await module(p, "SupportsRollback", tree)).stdout, "Yes\n");
      const unknown = await module(p, "SomeFutureState", tree);
      assertEquals([unknown.code, unknown.stdout], [0, ""]);
      await mustPass(p, "Download", tree);
      for (
        const meta of [
          {},
          { containers: [] },
          { containers: [{ name: "bad name", image: "x" }] },
          { containers: [{ name: "web" }] },
          { containers: [{ name: "web", image: "x", run_args: "-p 80:80" }] },
          { containers: ["x"], images: ["../etc/passwd"] },
        ]
      ) {
        const result = await module(p, "Download", await fileTree(work, meta));
        assertEquals(result.code, 1, `meta-data ${JSON.stringify(meta)} must be refused`);
        assertStringIncludes(result.stderr, "DOCKER_META_DATA");
      }
    }),
});

Deno.test({
  name: "docker module: Mender's meta-data form (image list, run_args string) installs",
  ignore,
  sanitizeResources: false,
  fn: () =>
    withPodman(async ({ p, work, v2 }) => {
      const tree = await fileTree(work, {
        containers: ["localhost/app:2"],
        run_args: "--network=none -e MODE=legacy",
      });
      await mustPass(p, "ArtifactInstall", tree);
      const app = (await containerState(p, "app"))!;
      assertEquals([app.image, app.running], [v2, true]);
      assertEquals((await p.must(["exec", "app", "sh", "-c", "echo $MODE"])).trim(), "legacy");
      await mustPass(p, "ArtifactRollback", tree);
      assertEquals(await containerState(p, "app"), undefined);
    }),
});

Deno.test({
  name: "docker module: install killed at every step, then rollback or install again",
  ignore,
  sanitizeResources: false,
  fn: () =>
    withPodman(async ({ p, work, v1, v2 }) => {
      const fresh = async () => {
        await p.must(["rm", "-f", "-i", "-t", "0", "web", "web.ota-prev"]);
        await p.must(["run", "-d", "--name", "web", "--network=none", "localhost/app:1"]);
        return (await containerState(p, "web"))!;
      };
      // How many steps a whole install has.
      let before = await fresh();
      const probe = await fileTree(work, WEB, [`${work}/app-2.tar`]);
      const steps = (await mustPass(p, "ArtifactInstall", probe)).stderr
        .split("\n").filter((line) => /^step \d+: /.test(line)).length;
      assert(steps >= 4, `install has ${steps} steps`);
      await mustPass(p, "ArtifactRollback", probe);
      assertEquals(await containerState(p, "web"), before);

      for (let n = 1; n <= steps; n++) {
        for (const recovery of ["ArtifactRollback", "ArtifactInstall"]) {
          before = await fresh();
          const tree = await fileTree(work, WEB, [`${work}/app-2.tar`]);
          const killed = await module(p, "ArtifactInstall", tree, n);
          assertEquals(killed.code, 137, `install should die after step ${n}: ${killed.stderr}`);
          await mustPass(p, recovery, tree);
          const web = (await containerState(p, "web"))!;
          if (recovery === "ArtifactRollback") {
            assertEquals(web, before, `kill after ${n}, rollback: the old container is back`);
            assertEquals(await containerState(p, "web.ota-prev"), undefined);
          } else {
            assertEquals([web.image, web.running], [v2, true], `kill after ${n}, install again`);
            assertEquals((await containerState(p, "web.ota-prev"))?.id, before.id);
            await mustPass(p, "ArtifactCommit", tree);
            await mustPass(p, "Cleanup", tree);
            assertEquals(await containerState(p, "web.ota-prev"), undefined);
            assertEquals(await p.podman(["image", "exists", v1]).then((r) => r.code), 1);
            await buildBusyboxImage(p, "localhost/app:1", { "app/version": "1\n" }, SERVICE);
          }
        }
      }
    }),
});
