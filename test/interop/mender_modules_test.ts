/**
 * Mender's own Update Modules (Debian mender-client, /usr/share/mender/modules/v3), unchanged,
 * run by ota with artifacts made by the real mender-artifact: install, commit, rollback.
 */
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { run, sh } from "../helpers/mod.ts";
import { type Fixture, fixture } from "../e2e/fixture.ts";

const SHIPPED = "/usr/share/mender/modules/v3";

async function withModule(f: Fixture, name: string): Promise<void> {
  await Deno.copyFile(`${SHIPPED}/${name}`, `${f.device.dir}/modules/${name}`);
  await Deno.chmod(`${f.device.dir}/modules/${name}`, 0o755);
}

async function moduleArtifact(
  f: Fixture,
  type: string,
  name: string,
  files: Record<string, string | Uint8Array>,
  extra: string[] = [],
) {
  const dir = `${f.dir}/${name}-files`;
  await Deno.mkdir(dir, { recursive: true });
  const args: string[] = [];
  for (const [file, content] of Object.entries(files)) {
    if (typeof content === "string") await Deno.writeTextFile(`${dir}/${file}`, content);
    else await Deno.writeFile(`${dir}/${file}`, content);
    args.push("-f", `${dir}/${file}`);
  }
  const artifact = `${f.dir}/${name}.mender`;
  await sh([
    "mender-artifact",
    "write",
    "module-image",
    "-T",
    type,
    "-n",
    name,
    "-t",
    f.device.deviceType,
    "-o",
    artifact,
    ...args,
    ...extra,
  ]);
  return artifact;
}

async function tarOf(f: Fixture, files: Record<string, string>): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ dir: f.dir });
  for (const [name, content] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, content);
  }
  await sh(["tar", "-cf", `${dir}.tar`, "-C", dir, "."]);
  return await Deno.readFile(`${dir}.tar`);
}

async function listing(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    out[entry.name] = await Deno.readTextFile(`${dir}/${entry.name}`);
  }
  return out;
}

Deno.test("Mender's directory module through ota: install, commit, then install and roll back", async () => {
  await using f = await fixture();
  await withModule(f, "directory");
  const target = `${f.dir}/www`;
  await Deno.mkdir(target);
  await Deno.writeTextFile(`${target}/index.html`, "v0");
  const v1 = await moduleArtifact(f, "directory", "www-1", {
    "update.tar": await tarOf(f, { "index.html": "v1", "app.js": "1" }) as unknown as string,
    dest_dir: target,
  });
  const install = await f.ota("install", v1);
  assertEquals(install.code, 0, install.stderr);
  assertStringIncludes(install.stdout, "Installed, but not committed.");
  assertEquals(await listing(target), { "index.html": "v1", "app.js": "1" });
  assertEquals((await f.ota("commit")).code, 0);
  assertStringIncludes(
    (await f.ota("show-provides")).stdout,
    "rootfs-image.directory.version=www-1",
  );

  const v2 = await moduleArtifact(f, "directory", "www-2", {
    "update.tar": await tarOf(f, { "index.html": "v2" }) as unknown as string,
    dest_dir: target,
  });
  assertEquals((await f.ota("install", v2)).code, 0);
  assertEquals(await listing(target), { "index.html": "v2" });
  assertEquals((await f.ota("rollback")).code, 0);
  assertEquals(await listing(target), { "index.html": "v1", "app.js": "1" });
  assertEquals((await f.ota("show-artifact")).stdout.trim(), "www-1");
});

Deno.test("Mender's single-file module through ota: the file, its permissions, rollback", async () => {
  await using f = await fixture();
  await withModule(f, "single-file");
  const target = `${f.dir}/etc-app`;
  const artifact = await moduleArtifact(f, "single-file", "conf-1", {
    "app.conf": "debug=0\n",
    dest_dir: target,
    filename: "app.conf",
    permissions: "0640",
  });
  assertEquals((await f.ota("install", artifact)).code, 0);
  assertEquals(await Deno.readTextFile(`${target}/app.conf`), "debug=0\n");
  assertEquals((await Deno.stat(`${target}/app.conf`)).mode! & 0o777, 0o640);
  assertEquals((await f.ota("commit")).code, 0);
  const next = await moduleArtifact(f, "single-file", "conf-2", {
    "app.conf": "debug=1\n",
    dest_dir: target,
    filename: "app.conf",
    permissions: "0640",
  });
  assertEquals((await f.ota("install", next)).code, 0);
  assertEquals(await Deno.readTextFile(`${target}/app.conf`), "debug=1\n");
  assertEquals((await f.ota("rollback")).code, 0);
  assertEquals(await Deno.readTextFile(`${target}/app.conf`), "debug=0\n");
});

Deno.test("Mender's script module through ota: no rollback, so it commits at once; a failing script fails the update", async () => {
  await using f = await fixture();
  await withModule(f, "script");
  const marker = `${f.dir}/ran`;
  const ok = await moduleArtifact(f, "script", "job-1", {
    "run.sh": `#!/bin/sh\necho done > ${marker}\n`,
  });
  const install = await f.ota("install", ok);
  assertEquals(install.code, 0, install.stderr);
  assertStringIncludes(
    install.stdout,
    "Update Module doesn't support rollback. Committing immediately.",
  );
  assertEquals(await Deno.readTextFile(marker), "done\n");
  assertEquals((await f.ota("show-artifact")).stdout.trim(), "job-1");
  const bad = await moduleArtifact(f, "script", "job-2", { "run.sh": "#!/bin/sh\nexit 3\n" });
  const failed = await f.ota("install", bad);
  assertEquals(failed.code, 1);
  assertStringIncludes(failed.stderr, "does not support rollback");
  assertStringIncludes(failed.stderr, "[MODULE_FAILED]");
  assertEquals((await f.ota("show-artifact")).stdout.trim(), "job-1");
});

Deno.test("Mender's deb module through ota installs a package made by dpkg-deb (in a private dpkg database)", async () => {
  await using f = await fixture();
  await withModule(f, "deb");
  const pkg = `${f.dir}/pkg`;
  await Deno.mkdir(`${pkg}/DEBIAN`, { recursive: true });
  await Deno.mkdir(`${pkg}/opt/ota-deb-test`, { recursive: true });
  await Deno.writeTextFile(
    `${pkg}/DEBIAN/control`,
    "Package: ota-deb-test\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@example.com>\nDescription: test package\n",
  );
  await Deno.writeTextFile(`${pkg}/opt/ota-deb-test/hello`, "hello from a deb\n");
  await sh(["dpkg-deb", "--build", "--root-owner-group", pkg, `${f.dir}/ota-deb-test_1.0_all.deb`]);
  const artifact = await moduleArtifact(f, "deb", "pkg-1", {
    "ota-deb-test_1.0_all.deb": await Deno.readFile(
      `${f.dir}/ota-deb-test_1.0_all.deb`,
    ) as unknown as string,
  });
  // dpkg writes /var/lib/dpkg and /opt: give it private copies in a mount namespace
  await sh(["cp", "-a", "/var/lib/dpkg", `${f.dir}/dpkg-db`]);
  await Deno.mkdir(`${f.dir}/opt`);
  const { BINARY } = await import("../helpers/mod.ts");
  const script = [
    `mount --bind ${f.dir}/dpkg-db /var/lib/dpkg`,
    `mount --bind ${f.dir}/opt /opt`,
    `${BINARY} install --config ${f.device.config} --data ${f.device.data} ${artifact}`,
    "cat /opt/ota-deb-test/hello",
    "dpkg-query -W -f '${Status}' ota-deb-test",
  ].join(" && ");
  const result = await run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script]);
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(result.stdout, "hello from a deb");
  assertStringIncludes(result.stdout, "install ok installed");
  assert(
    !(await Deno.stat("/opt/ota-deb-test").then(() => true, () => false)),
    "the host's /opt was touched",
  );
});
