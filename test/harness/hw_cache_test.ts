/**
 * The emulated boards' cache (test/hw/harness/cache.ts, debs.ts) without QEMU: entries built
 * once however many boards and test processes ask at once from cold, a failed build or
 * download leaves nothing behind, and a download that never comes whole ends the boards'
 * setup with one line. Packages come from a mirror on loopback through the real apt-get.
 */
import { assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { hasCommand, ROOT, run, tempDir } from "../helpers/mod.ts";
import { cacheEntry } from "../hw/harness/cache.ts";
import { type Mirror, startMirror } from "./apt_mirror.ts";

const ignore = !hasCommand("apt-get") || !hasCommand("dpkg-deb") || !hasCommand("flock");

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("cacheEntry: concurrent callers from cold build once, and all see the whole entry", async () => {
  await using work = await tempDir("ota-hw-cache-");
  const entry = `${work.path}/pkg/thing`;
  let builds = 0;
  const build = async (tmp: string) => {
    builds++;
    await Deno.writeTextFile(`${tmp}/part-1`, "1");
    await new Promise((resolve) => setTimeout(resolve, 50));
    await Deno.writeTextFile(`${tmp}/part-2`, "2");
  };
  const got = await Promise.all([1, 2, 3, 4].map(() => cacheEntry(entry, build)));
  assertEquals(got, [entry, entry, entry, entry]);
  assertEquals(builds, 1);
  assertEquals(await names(entry), [".done", "part-1", "part-2"]);
  assertEquals(await names(`${work.path}/pkg`), ["thing", "thing.lock"]);
});

Deno.test("cacheEntry: a failed build leaves nothing, and the next caller builds afresh", async () => {
  await using work = await tempDir("ota-hw-cache-");
  const entry = `${work.path}/images/uboot-abc`;
  await Deno.mkdir(`${work.path}/images`);
  const error = await assertRejects(() =>
    cacheEntry(entry, async (tmp) => {
      await Deno.writeTextFile(`${tmp}/half`, "x");
      throw new Error("mkfs.ext4 exited 1");
    })
  );
  assertEquals(error.message, "mkfs.ext4 exited 1");
  assertEquals(await names(`${work.path}/images`), ["uboot-abc.lock"]);
  // what a builder killed mid-way leaves: its temporary directory, an entry without the marker
  await Deno.mkdir(`${entry}.tmp-999-dead`);
  await Deno.mkdir(entry);
  await Deno.writeTextFile(`${entry}/stale`, "x");
  await cacheEntry(entry, (tmp) => Deno.writeTextFile(`${tmp}/disk.img`, "ok"));
  assertEquals(await names(entry), [".done", "disk.img"]);
  assertEquals(await names(`${work.path}/images`), ["uboot-abc", "uboot-abc.lock"]);
  // a builder that never saw the lock (its file removed meanwhile) finished first: its entry wins
  const raced = `${work.path}/images/grub-abc`;
  const got = await cacheEntry(raced, async (tmp) => {
    await Deno.mkdir(raced);
    await Deno.writeTextFile(`${raced}/.done`, "other\n");
    await Deno.writeTextFile(`${tmp}/disk.img`, "mine");
  });
  assertEquals(got, raced);
  assertEquals(await names(raced), [".done"]);
  assertEquals(await names(`${work.path}/images`), [
    "grub-abc",
    "grub-abc.lock",
    "uboot-abc",
    "uboot-abc.lock",
  ]);
});

/** Runs FN's source in a deno process with the harness's debs.ts imported as `debs`. */
function harness(code: string, env: Record<string, string>) {
  const script = `import * as debs from "${ROOT}/test/hw/harness/debs.ts";\n` +
    `try { ${code} } catch (e) { console.error(e.message); Deno.exit(3); }`;
  return run([Deno.execPath(), "eval", "--quiet", script], { env, cwd: ROOT });
}

async function withHwMirror(
  fn: (mirror: Mirror, env: Record<string, string>, cache: string, work: string) => Promise<void>,
) {
  await using work = await tempDir("ota-hw-cache-");
  await using mirror = await startMirror(work.path, [
    { name: "busybox-static", version: "1:1.36.1-9", files: { "bin/busybox": "BUSYBOX" } },
    {
      name: "linux-image-amd64",
      version: "6.1.119-1",
      depends: "linux-image-6.1.0-28-amd64 (= 6.1.119-1)",
    },
    {
      name: "linux-image-6.1.0-28-amd64",
      version: "6.1.119-1",
      files: {
        "boot/vmlinuz-6.1.0-28-amd64": "KERNEL",
        "lib/modules/6.1.0-28-amd64/kernel/fs/ext4/ext4.ko": "EXT4",
      },
    },
  ]);
  const cache = `${work.path}/cache`;
  // a dpkg-deb that notes each unpack, to count them
  const bin = `${work.path}/bin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    `${bin}/dpkg-deb`,
    `#!/bin/sh\n[ "$1" = -x ] && echo "$2" >>'${work.path}/unpacks'\nexec /usr/bin/dpkg-deb "$@"\n`,
  );
  await Deno.chmod(`${bin}/dpkg-deb`, 0o755);
  const env = {
    APT_CONFIG: mirror.aptConfig,
    OTA_APT_BACKOFF: "0",
    OTA_HW_CACHE: cache,
    PATH: `${bin}:${Deno.env.get("PATH")}`,
  };
  const update = await run(["apt-get", "-q", "update"], { env });
  assertEquals(update.code, 0, update.stderr);
  await fn(mirror, env, cache, work.path);
}

Deno.test({
  name: "hw cache: two test processes with two boards each, from cold, fetch and unpack once",
  ignore,
}, async () => {
  await withHwMirror(async (mirror, env, cache, work) => {
    mirror.fault("linux-image-6.1.0-28-amd64", "short");
    // what each board's image build asks for, both boards at once
    const code = `
      const boards = await Promise.all([1, 2].map(async () => {
        const kernel = await debs.kernelPackage();
        return [kernel, await debs.unpacked(kernel), await debs.unpacked("busybox-static")];
      }));
      console.log(JSON.stringify(boards));`;
    const outs = await Promise.all([1, 2].map(() => harness(code, env)));
    const kernelDir = `${cache}/pkg/linux-image-6.1.0-28-amd64`;
    const board = ["linux-image-6.1.0-28-amd64", kernelDir, `${cache}/pkg/busybox-static`];
    for (const out of outs) {
      assertEquals(out.code, 0, out.stderr);
      assertEquals(JSON.parse(out.stdout), [board, board]);
    }
    assertEquals(await Deno.readTextFile(`${kernelDir}/boot/vmlinuz-6.1.0-28-amd64`), "KERNEL");
    assertEquals(await Deno.readTextFile(`${cache}/pkg/busybox-static/bin/busybox`), "BUSYBOX");
    // the short body was retried once, by one of them; nothing else was fetched twice
    assertEquals(mirror.requests("linux-image-6.1.0-28-amd64"), 2);
    assertEquals(mirror.requests("linux-image-amd64"), 1);
    assertEquals(mirror.requests("busybox-static"), 1);
    assertMatch(outs.map((o) => o.stderr).join(""), /try 1 of 5.*File has unexpected size/);
    const unpacks = (await Deno.readTextFile(`${work}/unpacks`)).trim().split("\n");
    assertEquals(unpacks.length, 2, `unpacked more than once each: ${unpacks}`);
    assertEquals(await names(`${cache}/pkg`), [
      "busybox-static",
      "busybox-static.lock",
      "linux-image-6.1.0-28-amd64",
      "linux-image-6.1.0-28-amd64.lock",
    ]);
  });
});

Deno.test({
  name:
    "hw cache: a kernel that never comes whole fails each board in one line, then a rerun passes",
  ignore,
}, async () => {
  await withHwMirror(async (mirror, env, cache) => {
    mirror.fault("linux-image-6.1.0-28-amd64", "short", "short", "short");
    const code = `
      const kernel = await debs.kernelPackage();
      const all = await Promise.allSettled([1, 2].map(() => debs.unpacked(kernel)));
      for (const r of all) console.log(r.status === "rejected" ? r.reason.message : "ok");`;
    const failed = await harness(code, { ...env, OTA_APT_TRIES: "3" });
    assertEquals(failed.code, 0, failed.stderr);
    const lines = failed.stdout.trim().split("\n");
    assertEquals(lines.length, 2, failed.stdout);
    for (const line of lines) {
      assertMatch(
        line,
        /^hw cache: cannot download linux-image-6\.1\.0-28-amd64 after 3 tries: Failed to fetch http:\S+ File has unexpected size \(\d+ != \d+\)\. Mirror sync in progress\? \[IP: [^\]]+\]$/,
      );
    }
    // both boards shared one try: three requests, not six
    assertEquals(mirror.requests("linux-image-6.1.0-28-amd64"), 3);
    // the metapackage came; of the kernel only its lock remains, no .FAILED or partial file
    assertEquals(await names(`${cache}/downloads`), [
      "linux-image-6.1.0-28-amd64.lock",
      "linux-image-amd64.lock",
      "linux-image-amd64_6.1.119-1_amd64.deb",
    ]);
    assertEquals(await names(`${cache}/pkg`), ["linux-image-6.1.0-28-amd64.lock"]);

    // the next test file finds nothing to trip over and gets the kernel
    const again = await harness(
      `console.log(await debs.unpacked(await debs.kernelPackage()));`,
      env,
    );
    assertEquals(again.code, 0, again.stderr);
    assertEquals(again.stdout.trim(), `${cache}/pkg/linux-image-6.1.0-28-amd64`);
  });
});
