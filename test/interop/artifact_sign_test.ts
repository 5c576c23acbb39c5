/**
 * `ota artifact sign -f` replaces the signature of an artifact the real mender-artifact signed,
 * at any size (it used to hang above ~400 KiB and leave a temporary file): the result passes
 * the real `validate` with the new key and fails it with the old one, and nothing else is
 * left in the directory.
 */
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { ecKey, rsaKey } from "../helpers/keys.ts";
import { BINARY, pseudoRandomBytes, run, sh } from "../helpers/mod.ts";

const keys = await Deno.makeTempDir({ prefix: "ota-sign-keys-" });
const oldKey = await rsaKey(keys, 2048);
const newKey = await ecKey(keys);
globalThis.addEventListener("unload", () => Deno.removeSync(keys, { recursive: true }));

/** Runs the binary, stopped after `seconds`, so a hang fails the test instead of stalling it. */
async function otaWithin(seconds: number, args: string[]) {
  const out = await new Deno.Command(BINARY, {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(seconds * 1000),
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, signal: out.signal, stdout: text(out.stdout), stderr: text(out.stderr) };
}

const sizes = [
  { label: "1 MiB", bytes: 1 << 20, compression: "gzip" },
  { label: "256 MiB", bytes: 256 << 20, compression: "none" },
];

for (const { label, bytes, compression } of sizes) {
  Deno.test(`sign -f of a signed ${label} artifact finishes, verifies, leaves nothing behind`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "ota-sign-" });
    try {
      const payload = `${dir}/payload.bin`;
      if (bytes <= 1 << 20) await Deno.writeFile(payload, pseudoRandomBytes(bytes, 9));
      else await sh(["truncate", "-s", String(bytes), payload]);
      const artifact = `${dir}/signed.mender`;
      await sh([
        "mender-artifact",
        "write",
        "module-image",
        "-T",
        "blob",
        "-n",
        "big-1",
        "-t",
        "board",
        "-f",
        payload,
        "-o",
        artifact,
        "--compression",
        compression,
        "-k",
        oldKey.private,
      ]); // deno-fmt-ignore
      await Deno.remove(payload);

      const refused = await otaWithin(120, ["artifact", "sign", "-k", newKey.private, artifact]);
      assertEquals(refused.code, 1);
      assertStringIncludes(refused.stderr, "[ARTIFACT_SIGNED]");

      const signed = await otaWithin(120, [
        "artifact",
        "sign",
        "-f",
        "-k",
        newKey.private,
        artifact,
      ]);
      assertEquals([signed.code, signed.signal], [0, null], signed.stderr);
      assert(!/FileHandle/.test(signed.stderr), signed.stderr);
      await sh(["mender-artifact", "validate", "-k", newKey.public, artifact]);
      const old = await run(["mender-artifact", "validate", "-k", oldKey.public, artifact]);
      assertEquals(old.code, 4, "the old key must no longer verify it");

      const copy = `${dir}/copy.mender`;
      const out = await otaWithin(120, [
        "artifact",
        "sign",
        "-f",
        "-k",
        oldKey.private,
        "-o",
        copy,
        artifact,
      ]); // deno-fmt-ignore
      assertEquals(out.code, 0, out.stderr);
      await sh(["mender-artifact", "validate", "-k", oldKey.public, copy]);
      await sh(["mender-artifact", "validate", "-k", newKey.public, artifact]);

      const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assertEquals(left, ["copy.mender", "signed.mender"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
