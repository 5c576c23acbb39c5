/**
 * The configuration cases (test/device/config_cases.ts) through the real Mender 3.4 client:
 * it loads each file the cases say it loads, with the values they say (read from the
 * struct its debug log prints), and refuses the others; ota, in process and as the binary,
 * decides alike. The few refusals ota keeps on purpose are checked to be just that.
 */
import { loadConfig } from "../../src/device/config.ts";
import { isOtaError } from "../../src/errors.ts";
import {
  CASES,
  type ConfigCase,
  DIFFERENCES,
  REFUSAL_WORDS,
  type Value,
} from "../device/config_cases.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { MENDER } from "../helpers/mender_client.ts";
import { hasCommand, ota, run, tempDir } from "../helpers/mod.ts";

interface Files {
  main: string;
  fallback: string;
  data: string;
}

async function write(dir: string, c: ConfigCase): Promise<Files> {
  const files = { main: `${dir}/mender.conf`, fallback: `${dir}/fallback.conf`, data: dir };
  await Deno.writeTextFile(files.main, c.main);
  if (c.fallback !== undefined) await Deno.writeTextFile(files.fallback, c.fallback);
  return files;
}

/** Mender's verdict: loaded or not, and its struct's fields as Go's %#v printed them. */
async function mender(files: Files): Promise<{ loaded: boolean; fields: string; log: string }> {
  const result = await run([
    MENDER,
    "--config",
    files.main,
    "--fallback-config",
    files.fallback,
    "--data",
    files.data,
    "--no-syslog",
    "--log-level",
    "debug",
    "show-provides",
  ]);
  const log = result.stderr;
  const fields = /Loaded configuration = (.*)/.exec(log)?.[1] ?? "";
  return { loaded: result.code === 0 && fields !== "", fields, log };
}

/** One field out of the %#v dump (strings come quoted, and logrus escapes the quotes). */
function field(dump: string, name: string): Value {
  const match = new RegExp(`[{ ]${name}:(\\\\"(.*?)\\\\"|-?\\d+|true|false)[,}]`).exec(dump);
  if (!match) throw new Error(`${name} is not in Mender's dump: ${dump.slice(0, 300)}`);
  if (match[2] !== undefined) return match[2];
  if (match[1] === "true" || match[1] === "false") return match[1] === "true";
  return Number(match[1]);
}

async function otaVerdict(files: Files): Promise<unknown> {
  return await loadConfig(files.main, files.fallback).catch((error) => error);
}

const available = Deno.uid() === 0 && hasCommand(MENDER);

for (const c of CASES) {
  Deno.test({
    name: `Mender 3.4 and ota alike: ${c.name}`,
    ignore: !available,
  }, async () => {
    await using dir = await tempDir();
    const files = await write(dir.path, c);
    const [theirs, ours] = [await mender(files), await otaVerdict(files)];
    if (c.refused) {
      assert(!theirs.loaded, `Mender loaded it: ${theirs.fields.slice(0, 200)}`);
      assertStringIncludes(theirs.log, "Error loading configuration from file");
      assert(isOtaError(ours, "CONFIG_INVALID"), `ota: ${ours}`);
      assertMatch(ours.message, REFUSAL_WORDS[c.refused]);
      return;
    }
    assert(theirs.loaded, `Mender refused it: ${theirs.log.slice(-600)}`);
    assert(!(ours instanceof Error), `ota refused it: ${ours}`);
    for (const [name, value] of Object.entries(c.mender ?? {})) {
      assertEquals(field(theirs.fields, name), value, `Mender's ${name}`);
    }
  });
}

for (const c of DIFFERENCES) {
  Deno.test({
    name: `Mender 3.4 loads, ota refuses on purpose: ${c.name}`,
    ignore: !available,
  }, async () => {
    await using dir = await tempDir();
    const files = await write(dir.path, c);
    assert((await mender(files)).loaded, "Mender refused it");
    const ours = await otaVerdict(files);
    assert(isOtaError(ours, "CONFIG_INVALID"), "ota took it");
    assertMatch(ours.message, REFUSAL_WORDS[c.refused!]);
  });
}

Deno.test({
  name: "the binary: ignored keys at debug level, a wrong type refused",
  ignore: !available,
}, async () => {
  await using dir = await tempDir();
  const config = `${dir.path}/mender.conf`;
  const args = ["--config", config, "--data", dir.path];
  await Deno.writeTextFile(config, '{"noSUCHkey": "x", "moduletimeoutseconds": 0}');
  const quiet = await ota(["show-provides", ...args]);
  assertEquals(quiet.code, 0, quiet.stderr);
  assert(!quiet.stderr.includes("noSUCHkey"), quiet.stderr);
  const debug = await ota(["show-provides", ...args, "--log-level", "debug"]);
  assertEquals(debug.code, 0, debug.stderr);
  const lines = debug.stderr.split("\n");
  assertEquals(lines.filter((l) => l.includes("ignoring noSUCHkey")).length, 1, debug.stderr);
  assertEquals(lines.filter((l) => l.includes("ModuleTimeoutSeconds is 0")).length, 1);
  await Deno.writeTextFile(config, '{"SkipVerify": "yes"}');
  const refused = await ota(["show-provides", ...args]);
  assertEquals(refused.code, 1);
  assertStringIncludes(refused.stderr, "[CONFIG_INVALID]");
  assertStringIncludes(refused.stderr, "SkipVerify must be true or false, not a string");
});
