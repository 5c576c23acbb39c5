/**
 * mender.conf loaded as Mender 3.4 loads it (the cases in config_cases.ts, which the interop
 * test also runs through the real client): what ota takes, what it refuses and with which
 * code, which keys it reports as ignored; and the Go decoding rules on nested objects and
 * lists, which today's keys do not exercise.
 */
import { z } from "zod";
import { loadConfig } from "../../src/device/config.ts";
import { decodeFile, type Shape, unsetZeroValues } from "../../src/device/go_decode.ts";
import { parseGoJson } from "../../src/device/go_json.ts";
import { isOtaError } from "../../src/errors.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "../helpers/assert.ts";
import { tempDir } from "../helpers/mod.ts";
import { CASES, type ConfigCase, DIFFERENCES, REFUSAL_WORDS } from "./config_cases.ts";

async function load(dir: string, c: ConfigCase, debug?: (line: string) => void) {
  const main = `${dir}/mender.conf`, fallback = `${dir}/fallback.conf`;
  await Deno.writeTextFile(main, c.main);
  if (c.fallback !== undefined) await Deno.writeTextFile(fallback, c.fallback);
  else await Deno.remove(fallback).catch(() => {});
  return loadConfig(main, fallback, debug);
}

for (const c of [...CASES, ...DIFFERENCES]) {
  Deno.test(`config: ${c.name}`, async () => {
    await using dir = await tempDir();
    if (c.refused) {
      const error = await assertRejects(() => load(dir.path, c));
      assert(isOtaError(error, "CONFIG_INVALID"), String(error));
      assertMatch(error.message, REFUSAL_WORDS[c.refused]);
      assertStringIncludes(error.message, dir.path, "the message names the file");
      return;
    }
    const lines: string[] = [];
    const config = await load(dir.path, c, (line) => lines.push(line)) as Record<string, unknown>;
    for (const [key, value] of Object.entries(c.ota ?? {})) {
      assertEquals(config[key], value, key);
    }
    const ignored = lines.filter((l) => l.includes("a key ota does not know"));
    assertEquals(ignored.length, c.ignored?.length ?? 0, ignored.join("\n"));
    c.ignored?.forEach((key, i) => assertStringIncludes(ignored[i]!, `ignoring ${key},`));
  });
}

Deno.test("config: a missing file is no error; defaults apply", async () => {
  await using dir = await tempDir();
  const config = await loadConfig(`${dir.path}/none`, `${dir.path}/none2`);
  assertEquals(config.ModuleTimeoutSeconds, 14400);
  assertEquals(config.Bootloader, "auto");
});

// A shape like managed mode's keys: objects in objects, lists of objects, a map.
const nested = z.object({
  HttpsClient: z.object({ Certificate: z.string().optional(), Key: z.string().optional() })
    .optional(),
  Servers: z.array(z.object({ ServerURL: z.string() })).optional(),
  Labels: z.record(z.string(), z.string()).optional(),
  Connectivity: z.object({ IdleConnTimeoutSeconds: z.number().int().optional() }).optional(),
});
const shape = z.toJSONSchema(nested, { io: "input" }) as Shape;

function decodeAll(...files: string[]): Record<string, unknown> {
  let merged: Record<string, unknown> = {};
  for (const text of files) {
    merged = decodeFile(merged, parseGoJson(text, "test.conf"), {
      source: "test.conf",
      root: shape,
    });
  }
  return merged;
}

Deno.test("Go rules: an object merges into the fallback's, in any case, field by field", () => {
  assertEquals(
    decodeAll('{"HttpsClient": {"Certificate": "/c"}}', '{"httpsclient": {"KEY": "/k"}}'),
    { HttpsClient: { Certificate: "/c", Key: "/k" } },
  );
  assertEquals(decodeAll('{"HttpsClient": {"Key": "/k"}}', '{"HttpsClient": null}'), {
    HttpsClient: { Key: "/k" },
  });
});

Deno.test("Go rules: a list replaces the old one, its elements decoded into the old ones", () => {
  const fallback = '{"Servers": [{"ServerURL": "https://a"}, {"ServerURL": "https://b"}]}';
  assertEquals(decodeAll(fallback, '{"Servers": [{}]}'), { Servers: [{ ServerURL: "https://a" }] });
  assertEquals(decodeAll(fallback, '{"Servers": [null, {"serverurl": "x"}, null]}'), {
    Servers: [{ ServerURL: "https://a" }, { ServerURL: "x" }, {}],
  });
  assertEquals(decodeAll(fallback, '{"Servers": null}'), {}, "null empties a list");
});

Deno.test("Go rules: a map keeps its keys' case, merges, and is emptied by null", () => {
  assertEquals(decodeAll('{"Labels": {"a": "1"}}', '{"labels": {"A": "2"}}'), {
    Labels: { a: "1", A: "2" },
  });
  assertEquals(decodeAll('{"Labels": {"a": "1"}}', '{"Labels": null}'), {});
  const odd = decodeAll('{"Labels": {"__proto__": "x", "constructor": "y"}}');
  const labels = odd.Labels as Record<string, unknown>;
  assertEquals(Object.getPrototypeOf(labels), Object.prototype, "the prototype is untouched");
  assertEquals([labels["__proto__"], labels.constructor], ["x", "y"]);
  assertEquals(Object.keys(labels), ["__proto__", "constructor"]);
  const error = (() => {
    try {
      decodeAll('{"Labels": {"a": 1}}');
    } catch (e) {
      return e;
    }
  })();
  assert(isOtaError(error, "CONFIG_INVALID"), String(error));
  assertStringIncludes(error.message, "Labels.a must be a string, not the number 1");
});

Deno.test("zero values: nested empty strings and 0 seconds are unset too", () => {
  const config = decodeAll(
    '{"HttpsClient": {"Certificate": ""}, "Connectivity": ' +
      '{"IdleConnTimeoutSeconds": 0}, "Servers": [{"ServerURL": ""}]}',
  );
  const notes: string[] = [];
  unsetZeroValues(config, shape, shape, (path, note) => notes.push(`${path} ${note}`));
  assertEquals(config, { HttpsClient: {}, Connectivity: {}, Servers: [{ ServerURL: "" }] });
  assertEquals(notes.length, 2, notes.join("\n"));
});

Deno.test("syntax errors say where", async () => {
  await using dir = await tempDir();
  const error = await assertRejects(() =>
    load(dir.path, { name: "", main: '{"SkipVerify": true,\n "x": tru}' })
  );
  assert(isOtaError(error, "CONFIG_INVALID"), String(error));
  assertStringIncludes(error.message, "offset 27");
});
