/**
 * U-Boot environment edges, on environments in files: the separator Mender probes with
 * `mender_uboot_separator` (the real libubootenv fw_setenv, and a stand-in for U-Boot's own
 * tools, which take only `name value` lines), a probe variable a cut left behind, a tool
 * that takes a script without applying it, and the save canary on every read and write.
 * No root: fw_setenv works on a file named by an fw_env.config.
 */
import { createBootEnv, envDump } from "../../examples/device/bootenv.ts";
import { configSchema } from "../../src/device/config.ts";
import { OtaError } from "../../src/errors.ts";
import { bootEnvFor } from "../../src/handlers/bootloader/mod.ts";
import { PROBE } from "../../src/handlers/bootloader/script_env.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import { sh, sha256File, tempDir } from "../helpers/mod.ts";

const SWITCH = { mender_boot_part: "3", mender_boot_part_hex: "3", upgrade_available: "1" };

async function script(path: string, body: string): Promise<string> {
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
}

/** Each script fw_setenv was given, as the lines it held. */
async function scripts(log: string): Promise<string[][]> {
  const text = await Deno.readTextFile(log).catch(() => "");
  return text.split("\n--\n").filter((s) => s.trim()).map((s) => s.split("\n").filter(Boolean));
}

/** The real fw_setenv, with every script it gets kept in `log`. */
function loggingSetenv(dir: string, log: string): Promise<string> {
  return script(
    `${dir}/fw_setenv`,
    `s=$(cat); printf '%s\\n--\\n' "$s" >> ${log}; printf '%s\\n' "$s" | exec fw_setenv "$@"`,
  );
}

/** U-Boot's own tools (older ones) on a name=value text file: `name value` lines only. */
async function classicTools(dir: string, log: string) {
  const store = `${dir}/classic.env`;
  await Deno.writeTextFile(store, "mender_boot_part=2\nupgrade_available=0\n");
  const print = await script(`${dir}/classic_printenv`, `cat ${store}`);
  const set = await script(
    `${dir}/classic_setenv`,
    `[ "$1" = -s ] || exit 2
s=$(cat); printf '%s\\n--\\n' "$s" >> ${log}
printf '%s\\n' "$s" | while IFS= read -r line; do
  case "$line" in ''|'#'*) continue;; esac
  name=\${line%%[ 	]*}; value=\${line#"$name"}; value=\${value#"\${value%%[! 	]*}"}
  case "$name" in *=*) continue;; esac
  grep -v "^$name=" ${store} > ${store}.new; mv ${store}.new ${store}
  [ -n "$value" ] && echo "$name=$value" >> ${store}
done; exit 0`,
  );
  return {
    store,
    config: configSchema.parse({ Bootloader: "uboot", FwPrintenv: print, FwSetenv: set }),
  };
}

async function refusal(promise: Promise<unknown>, code: string): Promise<string> {
  const error = await assertRejects(() => promise);
  assert(error instanceof OtaError && error.code === code, String(error));
  return error.message;
}

Deno.test("libubootenv: the probe finds '=', leaves no probe variable, and the write lands", async () => {
  await using dir = await tempDir();
  const conf = await createBootEnv({ dir: dir.path, bootloader: "uboot" });
  const log = `${dir.path}/scripts.log`;
  const env = bootEnvFor(
    configSchema.parse({ ...conf, FwSetenv: await loggingSetenv(dir.path, log) }),
  );
  await env.write({ ...SWITCH, bootlimit: null });
  assertEquals(await scripts(log), [
    [`${PROBE} 1`],
    ["mender_boot_part=3", "mender_boot_part_hex=3", "upgrade_available=1", "bootlimit="],
  ]);
  const seen = await envDump({ dir: dir.path, bootloader: "uboot" });
  assertEquals([seen.mender_boot_part, seen.upgrade_available, seen.bootlimit], [
    "3",
    "1",
    undefined,
  ]);
  assertEquals(seen[PROBE], undefined);
});

Deno.test("U-Boot's own tools: the probe reads back 1, so 'name value' lines; the probe is removed", async () => {
  await using dir = await tempDir();
  const log = `${dir.path}/scripts.log`;
  const classic = await classicTools(dir.path, log);
  // the premise: these tools do not take name=value lines
  await sh([classic.config.FwSetenv, "-s", "-"], { stdin: "upgrade_available=1\n" });
  assertStringIncludes(await Deno.readTextFile(classic.store), "upgrade_available=0");
  await Deno.remove(log);
  await bootEnvFor(classic.config).write({ ...SWITCH, bootcount: null });
  assertEquals(await scripts(log), [
    [`${PROBE} 1`],
    [`${PROBE} `],
    ["mender_boot_part 3", "mender_boot_part_hex 3", "upgrade_available 1", "bootcount "],
  ]);
  const stored = (await Deno.readTextFile(classic.store)).trim().split("\n").sort();
  assertEquals(stored, ["mender_boot_part=3", "mender_boot_part_hex=3", "upgrade_available=1"]);
});

Deno.test("a probe variable left by a cut is removed first; the way that removes it is the separator", async () => {
  await using dir = await tempDir();
  const conf = await createBootEnv({ dir: dir.path, bootloader: "uboot" });
  await sh(["fw_setenv", "-c", conf.FwEnvConfig!, PROBE, "1"]);
  const log = `${dir.path}/scripts.log`;
  const config = configSchema.parse({ ...conf, FwSetenv: await loggingSetenv(dir.path, log) });
  await bootEnvFor(config).write(SWITCH);
  assertEquals((await scripts(log)).map((s) => s[0]), [`${PROBE}=`, "mender_boot_part=3"]);
  const seen = await envDump({ dir: dir.path, bootloader: "uboot" });
  assertEquals([seen[PROBE], seen.mender_boot_part], [undefined, "3"]);

  const classicLog = `${dir.path}/classic.log`;
  const classic = await classicTools(dir.path, classicLog);
  await Deno.writeTextFile(classic.store, `${PROBE}=1\nmender_boot_part=2\n`, { append: false });
  await bootEnvFor(classic.config).write(SWITCH);
  assertEquals((await scripts(classicLog)).map((s) => s[0]), [
    `${PROBE}=`,
    `${PROBE} `,
    "mender_boot_part 3",
  ]);
  assert(!(await Deno.readTextFile(classic.store)).includes(PROBE));
});

Deno.test("a tool that takes the script but does not apply it is a write error", async () => {
  await using dir = await tempDir();
  const conf = await createBootEnv({ dir: dir.path, bootloader: "uboot" });
  const before = await sha256File(`${dir.path}/uboot.env`);
  const idle = await script(`${dir.path}/idle_setenv`, "cat > /dev/null; exit 0");
  const env = bootEnvFor(configSchema.parse({ ...conf, FwSetenv: idle }));
  const message = await refusal(env.write(SWITCH), "BOOTENV_WRITE");
  assertStringIncludes(message, "does not hold mender_boot_part=3");
  assertEquals(await sha256File(`${dir.path}/uboot.env`), before);
});

Deno.test("the save canary is checked on every read and every write", async () => {
  await using dir = await tempDir();
  const conf = await createBootEnv({ dir: dir.path, bootloader: "uboot" }, true);
  await sh(["fw_setenv", "-c", conf.FwEnvConfig!, "mender_check_saveenv_canary", "1"]);
  const env = bootEnvFor(configSchema.parse(conf));
  const files = [`${dir.path}/uboot.env`, `${dir.path}/uboot2.env`];
  const before = await Promise.all(files.map(sha256File));
  assertStringIncludes(await refusal(env.read(), "BOOTENV_MISMATCH"), "mender_saveenv_canary");
  await refusal(env.write(SWITCH), "BOOTENV_MISMATCH");
  assertEquals(await Promise.all(files.map(sha256File)), before, "nothing was written");
  // U-Boot's mender_setup saved the canary: both work
  await sh(["fw_setenv", "-c", conf.FwEnvConfig!, "mender_saveenv_canary", "1"]);
  await env.write(SWITCH);
  assertEquals((await env.read()).mender_boot_part, "3");
});
