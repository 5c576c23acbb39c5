/**
 * Artifact JSON is data: keys that are names of JavaScript's object machinery (`__proto__`,
 * `constructor`, `toString`, `hasOwnProperty`, `valueOf`) in provides, depends, clears and
 * meta-data, written by the real `mender-artifact`, are read, stored, compared and printed
 * by ota as the plain keys they are, and installs go as they go with the real Mender client
 * 3.4 on the same device: installed or refused alike, the same provides afterwards. And a
 * provide with a newline, which the real client stores and prints as two, ota refuses.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  createMenderDevice,
  menderClientAvailable,
  type MenderDevice,
  runClient,
  runMender,
} from "../helpers/mender_client.ts";
import { ota, sh } from "../helpers/mod.ts";

const work = await Deno.makeTempDir({ prefix: "ota-keys-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
const machinery = ["__proto__", "constructor", "toString", "hasOwnProperty"];
let counter = 0;

async function write(kind: string, name: string, args: string[]): Promise<string> {
  const out = `${work}/${name}-${++counter}.mender`;
  await sh(["mender-artifact", "write", kind, "-n", name, "-t", "test-device", "-o", out, ...args]);
  return out;
}

/** The `key: value` lines under a heading of `mender-artifact read` / `ota artifact read`. */
function section(text: string, heading: string): string[] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trim().startsWith(heading));
  const out: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith("\t")) break;
    out.push(line.trim());
  }
  return out.sort();
}

Deno.test("read: provides, depends, clears and meta-data keys of object machinery are plain keys", async () => {
  const file = `${work}/f.txt`;
  await Deno.writeTextFile(file, "payload\n");
  const meta = `${work}/meta.json`;
  await Deno.writeTextFile(meta, '{"__proto__":{"polluted":1},"constructor":"c","toString":2}');
  const artifact = await write("module-image", "keys-1", [
    "-T",
    "app",
    "-f",
    file,
    "-m",
    meta,
    ...machinery.flatMap((k) => ["-p", `${k}:p-${k}`, "-d", `${k}:d-${k}`]),
    "--clears-provides",
    "__proto__",
  ]);
  const json = await ota(["artifact", "read", "--json", artifact]);
  assertEquals(json.code, 0, json.stderr);
  const payload = JSON.parse(json.stdout).payloads[0];
  for (const key of machinery) {
    assertEquals(Object.getOwnPropertyDescriptor(payload.provides, key)?.value, `p-${key}`);
    assertEquals(Object.getOwnPropertyDescriptor(payload.depends, key)?.value, `d-${key}`);
  }
  assertEquals(payload.clearsProvides, ["__proto__", "rootfs-image.app.*"]);
  assertEquals(JSON.stringify(payload.metaData), await Deno.readTextFile(meta));

  const theirs = await sh(["mender-artifact", "read", artifact]);
  const mine = await ota(["artifact", "read", artifact]);
  assertEquals(mine.code, 0, mine.stderr);
  for (const heading of ["Provides:", "Depends:"]) {
    assertEquals(section(mine.stdout, heading), section(theirs, heading), heading);
  }
  const dump = await ota(["artifact", "dump", "--meta-data", `${work}/meta-out`, artifact]);
  assertEquals(dump.code, 0, dump.stderr);
  assertEquals(
    await Deno.readTextFile(`${work}/meta-out/meta-data.json`),
    await Deno.readTextFile(meta),
  );
});

/** Both clients install `artifact`; their exit codes and then their provides must agree. */
async function bothInstall(device: MenderDevice, artifact: string, expectCode: number) {
  const outcomes: Record<string, string[]> = {};
  for (const client of ["mender", "ota"] as const) {
    const result = await runClient(client, device, "install", [artifact]);
    assertEquals(result.code, expectCode, `${client}: ${result.stdout}${result.stderr}`);
    assert(!/function |\[native code\]/.test(result.stdout + result.stderr), result.stderr);
    const provides = client === "mender"
      ? await runMender(device, ["show-provides"], { logLevel: "error" })
      : await runClient("ota", device, "show-provides");
    assertEquals(provides.code, 0, provides.stderr);
    outcomes[client] = provides.stdout.split("\n").filter((l) => l).sort();
  }
  assertEquals(outcomes.ota, outcomes.mender, "show-provides differs");
  return outcomes.ota!;
}

Deno.test({
  name: "install: object-machinery keys are stored, compared and cleared as the real client does",
  ignore: !menderClientAvailable(),
  fn: async () => {
    // An Update Module that does nothing: what matters here is the bookkeeping around it.
    const noop = `${work}/noop`;
    await Deno.writeTextFile(noop, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const device = await createMenderDevice(`${work}/device`, { modules: { noop } });
    const file = `${work}/noop.txt`;
    await Deno.writeTextFile(file, "nothing\n");
    const module = (name: string, ...args: string[]) =>
      write("module-image", name, ["-T", "noop", "-f", file, ...args]);
    const first = await bothInstall(
      device,
      await module("keys-a", ...machinery.flatMap((k) => ["-p", `${k}:${k}-1`])),
      0,
    );
    const version = "rootfs-image.noop.version";
    assertEquals(
      first,
      ["artifact_name=keys-a", `${version}=keys-a`, ...machinery.map((k) => `${k}=${k}-1`)].sort(),
    );
    const store = JSON.parse(await Deno.readTextFile(`${device.dir}/ota-data/ota-store.json`));
    assertEquals(Object.keys(store.provides).sort(), [...machinery, version].sort());

    // A key the device lacks refuses the install, whatever it is called.
    for (const key of [...machinery, "valueOf", "isPrototypeOf"]) {
      const missing = key === "valueOf" || key === "isPrototypeOf";
      const depends = await module(`needs-${key}`, "-d", `${key}:${missing ? "x" : "wrong"}`);
      assertEquals(await bothInstall(device, depends, 1), first, key);
    }
    // The right value fits, with clears matching the key literally.
    const fits = await module(
      "keys-b",
      "-d",
      "__proto__:__proto__-1",
      "-d",
      "toString:toString-1",
      "--clears-provides",
      "__proto__",
      "-p",
      "constructor:constructor-2",
      "--clears-provides",
      "constructor",
    );
    assertEquals(await bothInstall(device, fits, 0), [
      "artifact_name=keys-b",
      "constructor=constructor-2",
      "hasOwnProperty=hasOwnProperty-1",
      `${version}=keys-b`,
      "toString=toString-1",
    ]);
  },
});

Deno.test({
  name: "a newline in a provide forges a second one in Mender's show-provides; ota refuses it",
  ignore: !menderClientAvailable(),
  fn: async () => {
    const noop = `${work}/noop2`;
    await Deno.writeTextFile(noop, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const device = await createMenderDevice(`${work}/device2`, { modules: { noop } });
    const file = `${work}/noop2.txt`;
    await Deno.writeTextFile(file, "nothing\n");
    const forged = await write("module-image", "note-1", [
      "-T",
      "noop",
      "-f",
      file,
      "-p",
      "app.note:one\nrootfs-image.version=forged",
    ]);
    assertEquals((await runMender(device, ["install", forged], { logLevel: "error" })).code, 0);
    const theirs = await runMender(device, ["show-provides"], { logLevel: "error" });
    assert(theirs.stdout.split("\n").includes("rootfs-image.version=forged"), theirs.stdout);

    const before = await runClient("ota", device, "show-provides");
    const mine = await runClient("ota", device, "install", [forged]);
    assertEquals(mine.code, 1);
    assert(/\[ARTIFACT_FIELD_INVALID\]$/m.test(mine.stderr), mine.stderr);
    assert(mine.stderr.includes("artifact_provides.app.note"), mine.stderr);
    assertEquals((await runClient("ota", device, "show-provides")).stdout, before.stdout);
  },
});
