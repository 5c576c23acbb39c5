/**
 * The docker module, unchanged, under the REAL Mender client 3.4 and under ota's own
 * module runner, driving a real podman
 * (private storage and config, see helpers/podman.ts): images travel inside the artifact
 * as `podman save` archives, containers are replaced on install, and restored exactly
 * (same container, same image) on rollback or when the new container does not stay up.
 */
import { assert, assertEquals, assertNotEquals, assertStringIncludes } from "../helpers/assert.ts";
import {
  type ClientName,
  createMenderDevice,
  menderClientAvailable,
  type MenderDevice,
  runClient,
  showArtifact,
} from "../helpers/mender_client.ts";
import { ota, ROOT, sh } from "../helpers/mod.ts";
import {
  buildBusyboxImage,
  containerState,
  type Podman,
  podmanAvailable,
  privatePodman,
  SERVICE,
} from "../helpers/podman.ts";

const ignorePodman = !podmanAvailable();
const ignoreMender = ignorePodman || !menderClientAvailable();

interface World {
  p: Podman;
  device: MenderDevice;
  images: Record<"v1" | "v2" | "broken", string>;
  archives: Record<"v2" | "broken", string>;
  work: string;
}

/** podman with app:1 running as `web`; app:2 and app:broken exist only as archives. */
async function world(work: string, p: Podman): Promise<World> {
  const images = {
    v1: await buildBusyboxImage(p, "localhost/app:1", { "app/version": "1\n" }, SERVICE),
    v2: await buildBusyboxImage(p, "localhost/app:2", { "app/version": "2\n" }, SERVICE),
    broken: await buildBusyboxImage(p, "localhost/app:broken", {}, ["/bin/false"]),
  };
  const archives = { v2: `${work}/app-2.tar`, broken: `${work}/app-broken.tar` };
  await p.must(["save", "-o", archives.v2, "localhost/app:2"]);
  await p.must(["save", "-o", archives.broken, "localhost/app:broken"]);
  await p.must(["rmi", "localhost/app:2", "localhost/app:broken"]);
  await p.must(["run", "-d", "--name", "web", "--network=none", "localhost/app:1"]);
  const device = await createMenderDevice(`${work}/device`, {
    modules: { docker: `${ROOT}/modules/docker/docker` },
    hostCommands: ["/usr/bin/podman"],
    env: { ...p.env, OTA_CONTAINER_ENGINE: "podman" },
  });
  return { p, device, images, archives, work };
}

async function artifact(
  w: World,
  writer: "ota" | "mender-artifact",
  name: string,
  meta: unknown,
  archive: string,
): Promise<string> {
  const out = `${w.work}/${name}-${writer}.mender`;
  await Deno.writeTextFile(`${w.work}/${name}.json`, JSON.stringify(meta));
  const args = ["write", "module-image", "-T", "docker", "-n", name, "-t", "test-device"];
  const rest = ["-m", `${w.work}/${name}.json`, "-f", archive, "-o", out];
  if (writer === "ota") {
    const result = await ota(["artifact", ...args, ...rest, "--no-progress"]);
    assertEquals(result.code, 0, result.stderr);
  } else {
    await sh(["mender-artifact", ...args, ...rest]);
  }
  return out;
}

const web = (image: string) => ({
  containers: [{ name: "web", image, run_args: ["--network=none"] }],
  stop_timeout: 2,
});

async function client(w: World, name: ClientName, command: string, args: string[] = [], code = 0) {
  const result = await runClient(name, w.device, command, args);
  const what = `${name} ${command} ${args.join(" ")}`;
  assertEquals(result.code, code, `${what}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

async function inWorld(fn: (w: World) => Promise<void>) {
  const work = await Deno.makeTempDir({ prefix: "ota-docker-client-" });
  const p = await privatePodman(`${work}/podman`);
  try {
    await fn(await world(work, p));
  } finally {
    await p[Symbol.asyncDispose]();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

const cases: Array<[ClientName, "ota" | "mender-artifact"]> = [
  ["mender", "ota"],
  ["mender", "mender-artifact"],
  ["ota", "mender-artifact"],
];
for (const [c, writer] of cases) {
  const ignore = c === "mender" ? ignoreMender : ignorePodman;
  Deno.test({
    name: `docker under ${c} (${writer} artifact): install, commit`,
    ignore,
    sanitizeResources: false,
    fn: () =>
      inWorld(async (w) => {
        const before = (await containerState(w.p, "web"))!;
        assertEquals([before.image, before.running], [w.images.v1, true]);
        const file = await artifact(w, writer, "app-2", web("localhost/app:2"), w.archives.v2);
        const install = await client(w, c, "install", [file]);
        assertStringIncludes(install.stdout, "Use 'commit' to update");
        const after = (await containerState(w.p, "web"))!;
        assertEquals([after.image, after.running], [w.images.v2, true]);
        assertEquals((await w.p.must(["exec", "web", "cat", "/app/version"])).trim(), "2");
        const aside = (await containerState(w.p, "web.ota-prev"))!;
        assertEquals([aside.id, aside.running], [before.id, false], "old container kept, stopped");

        await client(w, c, "commit");
        assertEquals(await containerState(w.p, "web.ota-prev"), undefined);
        assertEquals((await containerState(w.p, "web"))!.image, w.images.v2);
        const oldImage = await w.p.podman(["image", "exists", w.images.v1]);
        assertNotEquals(oldImage.code, 0, "the old image is removed after commit");
        assertEquals(await showArtifact(w.device, c), "app-2");
      }),
  });

  Deno.test({
    name: `docker under ${c} (${writer} artifact): install, rollback`,
    ignore,
    sanitizeResources: false,
    fn: () =>
      inWorld(async (w) => {
        const before = (await containerState(w.p, "web"))!;
        const file = await artifact(w, writer, "app-2", web("localhost/app:2"), w.archives.v2);
        await client(w, c, "install", [file]);
        assertEquals((await containerState(w.p, "web"))!.image, w.images.v2);
        await client(w, c, "rollback");
        assertEquals(await containerState(w.p, "web"), before, "the same container runs again");
        assertEquals(await containerState(w.p, "web.ota-prev"), undefined);
        assertEquals((await w.p.must(["exec", "web", "cat", "/app/version"])).trim(), "1");
        assertEquals(await showArtifact(w.device, c), "factory-image");
      }),
  });
}

for (const c of ["mender", "ota"] as const) {
  const ignore = c === "mender" ? ignoreMender : ignorePodman;

  Deno.test({
    name: `docker under ${c}: a container that does not stay up is rolled back by the client`,
    ignore,
    sanitizeResources: false,
    fn: () =>
      inWorld(async (w) => {
        const before = (await containerState(w.p, "web"))!;
        const file = await artifact(
          w,
          "mender-artifact",
          "app-broken",
          { ...web("localhost/app:broken"), settle_seconds: 2 },
          w.archives.broken,
        );
        const result = await client(w, c, "install", [file], 1);
        assertStringIncludes(result.stdout + result.stderr, "DOCKER_NOT_RUNNING");
        assertEquals(await containerState(w.p, "web"), before);
        assertEquals(await containerState(w.p, "web.ota-prev"), undefined);
        assertEquals(await showArtifact(w.device, c), "factory-image");
      }),
  });

  Deno.test({
    name: `docker under ${c}: a new container name is created, and removed on rollback`,
    ignore,
    sanitizeResources: false,
    fn: () =>
      inWorld(async (w) => {
        const meta = {
          containers: [{
            name: "worker",
            image: "localhost/app:2",
            run_args: ["--network=none", "-e", "ROLE=worker"],
            command: SERVICE,
          }],
        };
        const file = await artifact(w, "ota", "worker-1", meta, w.archives.v2);
        await client(w, c, "install", [file]);
        const worker = (await containerState(w.p, "worker"))!;
        assertEquals([worker.image, worker.running], [w.images.v2, true]);
        const env = await w.p.must(["exec", "worker", "sh", "-c", "echo $ROLE"]);
        assertEquals(env.trim(), "worker");
        assert((await containerState(w.p, "web"))!.running, "other containers are left alone");
        await client(w, c, "rollback");
        assertEquals(await containerState(w.p, "worker"), undefined);
        assert((await containerState(w.p, "web"))!.running);
      }),
  });
}
