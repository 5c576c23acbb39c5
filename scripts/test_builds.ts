/**
 * The e2e cli, artifact-interop (mender-artifact, the zstd CLI) and A/B suites against the other
 * builds: the armv7 and arm64 executables under qemu-user (named by the tests, so binfmt_misc is
 * not needed) and dist/ota.js on the `node` in PATH (or OTA_TEST_NODE). Emulation is slow, so the
 * selection stays small; dist/ota.js, which runs at native speed, also takes the managed-mode
 * oracle (its requests go through the Node fetch of platform.ts, with the server's certificate).
 *
 *   deno run -A scripts/test_builds.ts [armv7 arm64 js]
 */
const suites = [
  "test/e2e/cli_test.ts",
  "test/e2e/ab_test.ts",
  "test/interop/mender_artifact_test.ts",
  "test/interop/zstd_cli_test.ts",
];
/** Suites that only the native-speed builds take on top. */
const extra: Record<string, string[]> = { js: ["test/managed/oracle_test.ts"] };
const builds = Deno.args.length > 0 ? Deno.args : ["armv7", "arm64", "js"];
const deno = new URL("../node_modules/.bin/deno", import.meta.url).pathname;
let failed = false;
for (const build of builds) {
  const started = performance.now();
  const { code } = await new Deno.Command(deno, {
    args: ["test", "-A", ...suites, ...(extra[build] ?? [])],
    env: { OTA_TEST_BUILD: build },
  }).spawn().status;
  const minutes = ((performance.now() - started) / 60_000).toFixed(1);
  console.log(`builds: ${build} ${code === 0 ? "passed" : "FAILED"} in ${minutes} min`);
  failed ||= code !== 0;
}
Deno.exit(failed ? 1 : 0);
