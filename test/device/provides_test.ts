/**
 * Provides, depends and the store as data (no binary): keys that name JavaScript's object
 * machinery are parsed, compared, committed, stored and printed as plain keys, and no
 * message shows a function; show-provides lines stay one provide each; the fields that
 * would break them are refused with their name.
 */
import type { ArtifactHeader } from "../../src/artifact/header.ts";
import { parseJson } from "../../src/artifact/json.ts";
import { metaDataSchema, typeInfoSchema } from "../../src/artifact/schema.ts";
import { requireParseableHeaderInfo, requireParseableTypeInfo } from "../../src/artifact/fields.ts";
import {
  incompatibilities,
  provideLines,
  type Provides,
  providesAfterCommit,
} from "../../src/device/provides.ts";
import { storeSchema } from "../../src/device/store.ts";
import { OtaError } from "../../src/errors.ts";
import { keyValues } from "../../src/cli/options.ts";
import { dataRecord } from "../../src/records.ts";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";

const machinery = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];
/** The keys and values, compared without regard to the record's prototype. */
const plain = (record: object | undefined) => Object.entries(record ?? {}).sort();

function typeInfo(json: string) {
  return parseJson(new TextEncoder().encode(json), typeInfoSchema, "type-info", 1 << 20);
}

function header(type: string): ArtifactHeader {
  const parsed = typeInfo(type);
  return {
    info: {
      payloads: [{ type: "app" }],
      artifact_provides: { artifact_name: "new-1" },
      artifact_depends: { device_type: ["dev"] },
    },
    infoBytes: new Uint8Array(),
    scripts: [],
    payloads: [{ index: 0, type: "app", typeInfo: parsed, typeInfoBytes: new Uint8Array() }],
  };
}

Deno.test("type-info and meta-data keep every key, __proto__ included, as own data", () => {
  const keys = JSON.stringify(Object.fromEntries(machinery.map((k) => [k, `v-${k}`])));
  assert(keys.includes('"__proto__":"v-__proto__"'), keys);
  const parsed = typeInfo(`{"type":"app","artifact_provides":${keys},"artifact_depends":${keys}}`);
  for (const key of machinery) {
    assertEquals(Object.getOwnPropertyDescriptor(parsed.artifact_provides, key)?.value, `v-${key}`);
    assertEquals(Object.getOwnPropertyDescriptor(parsed.artifact_depends, key)?.value, `v-${key}`);
  }
  const meta = parseJson(
    new TextEncoder().encode('{"__proto__":{"polluted":true},"constructor":1}'),
    metaDataSchema,
    "meta-data",
    1 << 20,
  );
  assertEquals(Object.keys(meta), ["__proto__", "constructor"]);
  assertEquals(({} as Record<string, unknown>).polluted, undefined);
  assertEquals(JSON.stringify(meta), '{"__proto__":{"polluted":true},"constructor":1}');
});

Deno.test("depends: a key the device lacks never fits, whatever it is called", () => {
  const device = { deviceType: "dev", provides: dataRecord([["artifact_name", "old"]]) };
  for (const key of machinery) {
    const depends = JSON.stringify({ [key]: "x" });
    const reasons = incompatibilities(
      header(`{"type":"app","artifact_depends":${depends}}`),
      device,
    );
    assertEquals(reasons.length, 1, key);
    assert(reasons[0]!.includes("does not provide"), reasons[0]);
    assert(!/function|native code/.test(reasons[0]!), reasons[0]);
  }
  const json = '{"type":"app","artifact_depends":{"__proto__":["a","b"]}}';
  const has = dataRecord([["artifact_name", "old"], ["__proto__", "b"]]);
  assertEquals(incompatibilities(header(json), { deviceType: "dev", provides: has }), []);
  const other = dataRecord([["__proto__", "c"]]);
  assertEquals(incompatibilities(header(json), { deviceType: "dev", provides: other }).length, 1);
});

Deno.test("commit: provides and clears of object-machinery keys are applied literally", () => {
  const before: Provides = dataRecord([["__proto__", "1"], ["toString", "2"], ["keep", "3"]]);
  const after = providesAfterCommit(
    before,
    header(
      '{"type":"app","artifact_provides":{"constructor":"4","__proto__":"5"},' +
        '"clears_artifact_provides":["toString"]}',
    ),
  );
  assertEquals(plain(after), [
    ["__proto__", "5"],
    ["artifact_name", "new-1"],
    ["constructor", "4"],
    ["keep", "3"],
  ]);
  assertEquals(Object.getPrototypeOf(after), null);
});

Deno.test("store: the provides record round-trips through ota-store.json with every key", () => {
  const stored = JSON.stringify({
    version: 1,
    provides: dataRecord(machinery.map((k) => [k, k.toUpperCase()])),
  });
  assert(stored.includes('"__proto__":"__PROTO__"'), stored);
  const loaded = storeSchema.parse(JSON.parse(stored));
  assertEquals(Object.keys(loaded.provides), machinery);
  assertEquals(Object.getPrototypeOf(loaded.provides), null);
  assertEquals(plain(storeSchema.parse({ version: 1 }).provides), []);
});

Deno.test("show-provides lines: sorted, one provide each, whatever a store holds", () => {
  const provides = dataRecord([
    ["b", "two"],
    ["__proto__", "p"],
    ["a=b", "x"],
    ["c", "line one\nforged=1\u001b[2J\u009b"],
  ]);
  assertEquals(provideLines(provides), [
    "__proto__=p",
    "a\\x3db=x",
    "b=two",
    "c=line one\\x0aforged=1\\x1b[2J\\x9b",
  ]);
});

Deno.test("-p and -d keep object-machinery keys", () => {
  const parsed = keyValues(machinery.map((k) => `${k}:${k}-v`), "-p");
  assertEquals(Object.keys(parsed), machinery);
});

Deno.test("fields that would break a line are refused with their name", () => {
  const info = {
    payloads: [{ type: "app" }],
    artifact_provides: { artifact_name: "rel-1" },
    artifact_depends: { device_type: ["dev"] },
  };
  const refused = (fn: () => void, field: string) => {
    const error = assertThrows(fn);
    assert(error instanceof OtaError && error.code === "ARTIFACT_FIELD_INVALID", String(error));
    assert(error.message.includes(field), error.message);
    assert(!error.message.includes("\n"), error.message);
  };
  const withInfo = (patch: object) => () =>
    requireParseableHeaderInfo({ ...info, ...patch }, "header-info");
  refused(withInfo({ artifact_provides: { artifact_name: "a\nb" } }), "artifact_name");
  refused(
    withInfo({ artifact_provides: { artifact_name: "a", artifact_group: "g\u007f" } }),
    "artifact_group",
  );
  refused(withInfo({ artifact_depends: { device_type: ["d\u0000"] } }), "device_type");
  refused(
    withInfo({ artifact_depends: { device_type: ["d"], artifact_name: ["\u001b"] } }),
    "artifact_depends.artifact_name",
  );
  requireParseableHeaderInfo(info, "header-info");
  const withType = (json: string) => () =>
    requireParseableTypeInfo(typeInfo(json), "type-info of payload 0");
  refused(withType('{"artifact_provides":{"a=b":"1"}}'), "artifact_provides key");
  refused(withType('{"artifact_provides":{"k\\u0085":"1"}}'), "artifact_provides key");
  refused(withType('{"artifact_provides":{"k":"\\ud800"}}'), "artifact_provides.k");
  refused(withType('{"artifact_depends":{"k":["ok","\\t"]}}'), "artifact_depends.k");
  refused(withType('{"clears_artifact_provides":["a\\r"]}'), "clears_artifact_provides");
  requireParseableTypeInfo(
    typeInfo('{"artifact_provides":{"k":"a=b \\u00e9 \\u2603"}}'),
    "type-info of payload 0",
  );
});
