/**
 * scripts/apt-fetch.sh, the one way the test suites download Debian packages, run with the
 * real apt-get and apt-cache against a mirror on loopback that misbehaves as real mirrors do:
 * transient faults are retried (the index refreshed between tries), a package that never comes
 * whole gives one line and leaves nothing behind, only whole files that match the index reach
 * the cache, and concurrent cold callers share one download.
 */
import { assertEquals, assertMatch, at } from "../helpers/assert.ts";
import { hasCommand, ROOT, run, sha256File, tempDir } from "../helpers/mod.ts";
import { lastLine, type Mirror, type MirrorPackage, startMirror } from "./apt_mirror.ts";

const FETCH = `${ROOT}/scripts/apt-fetch.sh`;
const ignore = !hasCommand("apt-get") || !hasCommand("dpkg-deb") || !hasCommand("flock");
const asRoot = Deno.uid() === 0;

const PACKAGES: MirrorPackage[] = [
  { name: "busybox-static", version: "1:1.36.1-9", files: { "bin/busybox": "#!/bin/sh\n" } },
  { name: "tools", version: "2.0", files: { "usr/share/tools/a": "a\n" } },
];

async function withMirror(
  fn: (mirror: Mirror, work: string, env: Record<string, string>) => Promise<void>,
) {
  await using work = await tempDir("ota-apt-fetch-");
  await using mirror = await startMirror(work.path, PACKAGES);
  const env = { APT_CONFIG: mirror.aptConfig, OTA_APT_BACKOFF: "0" };
  const update = await run(["apt-get", "-q", "update"], { env });
  assertEquals(update.code, 0, update.stdout + update.stderr);
  await fn(mirror, work.path, env);
}

function fetch(env: Record<string, string>, dir: string, pkg: string) {
  return run([FETCH, "hw cache", dir, pkg], { env });
}

/** Names in DIR apart from the per-package lock files. */
async function leftovers(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (!e.name.endsWith(".lock")) names.push(e.name);
  return names.sort();
}

async function assertWhole(path: string, mirror: Mirror, pkg: string) {
  const want = new Uint8Array(await crypto.subtle.digest("SHA-256", mirror.deb(pkg)));
  const hex = Array.from(want, (b) => b.toString(16).padStart(2, "0")).join("");
  assertEquals(await sha256File(path), hex, `${path} is not the mirror's ${pkg}`);
}

Deno.test({
  name: "apt-fetch: a short body and a 503 are retried, then the whole file is cached",
  ignore,
}, async () => {
  await withMirror(async (mirror, work, env) => {
    mirror.fault("busybox-static", "short", "503");
    const out = await fetch(env, `${work}/debs`, "busybox-static");
    assertEquals(out.code, 0, out.stderr);
    // the epoch is spelled as apt spells it in file names
    assertEquals(out.stdout, `${work}/debs/busybox-static_1%3a1.36.1-9_amd64.deb\n`);
    await assertWhole(out.stdout.trim(), mirror, "busybox-static");
    assertEquals(mirror.requests("busybox-static"), 3);
    const lines = out.stderr.trim().split("\n");
    assertEquals(lines.length, 2, out.stderr);
    assertMatch(
      at(lines, 0, "stderr lines"),
      /try 1 of 5.*File has unexpected size \(\d+ != \d+\)\. Mirror sync/,
    );
    assertMatch(at(lines, 1, "stderr lines"), /try 2 of 5.*503 Service Unavailable/);
    assertEquals(await leftovers(`${work}/debs`), ["busybox-static_1%3a1.36.1-9_amd64.deb"]);
    // warm: no request at all
    const again = await fetch(env, `${work}/debs`, "busybox-static");
    assertEquals([again.code, again.stdout, again.stderr], [0, out.stdout, ""]);
    assertEquals(mirror.requests("busybox-static"), 3);
  });
});

Deno.test({
  name: "apt-fetch: a package that never comes whole fails in one line and leaves nothing",
  ignore,
}, async () => {
  await withMirror(async (mirror, work, env) => {
    mirror.fault("tools", "short", "short", "short");
    const out = await fetch({ ...env, OTA_APT_TRIES: "3" }, `${work}/debs`, "tools");
    assertEquals(out.code, 1);
    assertEquals(out.stdout, "");
    const last = lastLine(out.stderr);
    assertMatch(
      last,
      /^hw cache: cannot download tools after 3 tries: Failed to fetch http:\/\/127\.0\.0\.1:\d+\/pool\/main\/tools_2\.0_amd64\.deb File has unexpected size \(\d+ != \d+\)\. Mirror sync in progress\? \[IP: [^\]]+\]$/,
    );
    assertEquals(mirror.requests("tools"), 3);
    // no .FAILED file, no partial .deb, no temporary directory for the next caller to trip over
    assertEquals(await leftovers(`${work}/debs`), []);
    const next = await fetch(env, `${work}/debs`, "tools");
    assertEquals(next.code, 0, next.stderr);
    await assertWhole(next.stdout.trim(), mirror, "tools");
  });
});

Deno.test({ name: "apt-fetch: an error no retry can cure fails at once", ignore }, async () => {
  await withMirror(async (mirror, work, env) => {
    mirror.fault("tools", "403");
    const out = await fetch(env, `${work}/debs`, "tools");
    assertEquals(out.code, 1);
    assertMatch(out.stderr, /^hw cache: cannot download tools: Failed to fetch \S+ 403 Forbidden/);
    assertEquals(out.stderr.trim().split("\n").length, 1, out.stderr);
    assertEquals(mirror.requests("tools"), 1);
    const missing = await fetch(env, `${work}/debs`, "no-such-package");
    assertEquals(missing.code, 1);
    // one refresh of the index may bring a package; a second try without it is pointless
    assertMatch(
      lastLine(missing.stderr),
      /^hw cache: cannot download no-such-package, not even after refreshing the index: /,
    );
    assertEquals(await leftovers(`${work}/debs`), []);
  });
});

Deno.test({
  name: "apt-fetch: a stale index (the mirror moved on: 404) is refreshed before the next try",
  ignore: ignore || !asRoot,
}, async () => {
  await withMirror(async (mirror, work, env) => {
    await mirror.publish([at(PACKAGES, 0), { ...at(PACKAGES, 1), version: "2.1" }]);
    const out = await fetch(env, `${work}/debs`, "tools");
    assertEquals(out.code, 0, out.stderr);
    assertMatch(out.stderr, /try 1 of 5.*tools_2\.0_amd64\.deb 404 Not Found/);
    assertEquals(out.stdout, `${work}/debs/tools_2.1_amd64.deb\n`);
    await assertWhole(out.stdout.trim(), mirror, "tools");
  });
});

Deno.test({
  name: "apt-fetch: a file that does not match the index's size and SHA256 never reaches the cache",
  ignore,
}, async () => {
  await withMirror(async (mirror, work, env) => {
    // an apt-get that reports success but leaves a cut file (as a broken proxy would), then
    // one that leaves a file of the right size with other bytes
    const bin = `${work}/bin`;
    await Deno.mkdir(bin);
    await Deno.writeTextFile(
      `${bin}/apt-get`,
      `#!/bin/sh
/usr/bin/apt-get "$@" || exit
[ "$1" = -q ] && [ "$2" = download ] || exit 0
n=$(cat "${work}/spoil" 2>/dev/null || echo 0)
echo $((n + 1)) >"${work}/spoil"
[ -e "${work}/always" ] && n=0
for f in *.deb; do
  case $n in
    0) truncate -s -10 "$f" ;;
    1) printf X | dd of="$f" conv=notrunc 2>/dev/null ;; # "!<arch>" becomes "X<arch>"
  esac
done
`,
    );
    await Deno.chmod(`${bin}/apt-get`, 0o755);
    const path = `${bin}:${Deno.env.get("PATH")}`;
    const out = await fetch({ ...env, PATH: path }, `${work}/debs`, "tools");
    assertEquals(out.code, 0, out.stderr);
    const lines = out.stderr.trim().split("\n");
    assertMatch(
      at(lines, 0, "stderr lines"),
      /try 1 of 5.*tools_2\.0_amd64\.deb is \d+ bytes, which differs from the index's \d+/,
    );
    assertMatch(
      at(lines, 1, "stderr lines"),
      /try 2 of 5.*has SHA256 [0-9a-f]{64}, which differs from the index's/,
    );
    await assertWhole(out.stdout.trim(), mirror, "tools");

    await Deno.writeTextFile(`${work}/always`, "");
    const bad = await fetch(
      { ...env, PATH: path, OTA_APT_TRIES: "2" },
      `${work}/debs`,
      "busybox-static",
    );
    assertEquals(bad.code, 1);
    assertMatch(
      lastLine(bad.stderr),
      /^hw cache: cannot download busybox-static after 2 tries: \S+ is \d+ bytes, which differs/,
    );
    assertEquals(await leftovers(`${work}/debs`), ["tools_2.0_amd64.deb"]);
  });
});

Deno.test(
  { name: "apt-fetch: concurrent cold callers wait for one download", ignore },
  async () => {
    await withMirror(async (mirror, work, env) => {
      mirror.fault("tools", "short");
      const outs = await Promise.all([1, 2, 3].map(() => fetch(env, `${work}/debs`, "tools")));
      for (const out of outs) {
        assertEquals(out.code, 0, out.stderr);
        assertEquals(out.stdout, `${work}/debs/tools_2.0_amd64.deb\n`);
      }
      // one short body, one whole: the others found the file when the lock came free
      assertEquals(mirror.requests("tools"), 2);
      assertEquals(outs.filter((o) => o.stderr.includes("try 1 of 5")).length, 1);
    });
  },
);

Deno.test({
  name: "apt_retry: an index that comes short or not at all is fetched again (install-deps, DFU)",
  ignore,
}, async () => {
  await withMirror(async (mirror, _work, env) => {
    await mirror.publish([{ ...at(PACKAGES, 1), version: "2.1" }]);
    mirror.fault("Packages", "short", "503");
    const script = `. '${FETCH}'; OTA_APT_REFRESH=0 apt_retry ci "refresh the index" ` +
      "apt-get -q update --error-on=any";
    const out = await run(["bash", "-c", script], { env });
    assertEquals(out.code, 0, out.stderr);
    assertEquals(mirror.requests("Packages"), 1 + 3); // withMirror's update, then three tries
    const lines = out.stderr.trim().split("\n");
    assertEquals(lines.length, 2, out.stderr);
    assertMatch(
      at(lines, 0, "stderr lines"),
      /^ci: refresh the index failed \(try 1 of 5\), again in 0 s: Failed to fetch \S+\/Packages File has unexpected size/,
    );
    assertMatch(
      at(lines, 1, "stderr lines"),
      /^ci: refresh the index failed \(try 2 of 5\), again in 0 s: Failed to fetch \S+\/Packages 503 Service Unavailable/,
    );
    const show = await run(["apt-cache", "show", "tools"], { env });
    assertMatch(show.stdout, /^Version: 2\.1$/m);
  });
});
