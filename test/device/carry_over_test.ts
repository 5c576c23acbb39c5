/**
 * The carry-over rules between Mender's store and ota's (src/device/carry_over.ts) and the
 * write back (src/device/mender_mirror.ts), on data directories in temp dirs, with Mender's
 * stores written in the 3.4 client's value formats. The real clients on one data directory:
 * test/interop/mender_store_*_test.ts.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { readLmdbFile } from "../../src/device/lmdb.ts";
import { buildLmdb } from "../../src/device/lmdb_write.ts";
import { parseArtifactInfo } from "../../src/device/artifact_info.ts";
import { loadDeviceStore } from "../../src/device/carry_over.ts";
import { saveDeviceStore } from "../../src/device/mender_mirror.ts";
import { readMenderStore } from "../../src/device/mender_store.ts";
import { saveStore, type StoreData, storePath } from "../../src/device/store.ts";

const enc = new TextEncoder();
const text = new TextDecoder();

async function withData(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ota-carry-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A mender-store as the Go client 3.4 leaves it (its JSON forms). */
async function writeMender(dir: string, txnid: number, keys: Record<string, string>) {
  const entries = Object.entries(keys).map(([k, v]) => ({
    key: enc.encode(k),
    value: enc.encode(v),
  }));
  await Deno.writeFile(`${dir}/mender-store`, buildLmdb(entries, { txnid }));
}

const committed = {
  "artifact-name": "rel-2",
  "artifact-provides": `{"rootfs-image.single-file.version":"2"}`,
};
const waiting = (name: string) =>
  `{"Version":1,"ArtifactName":"${name}","ArtifactGroup":"","ArtifactTypeInfoProvides":{"rootfs-image.single-file.version":"3"},"ArtifactClearsProvides":["rootfs-image.single-file.*"],"PayloadTypes":["single-file"]}`;

const otaStore = (extra: Partial<StoreData> = {}): StoreData => ({
  version: 1,
  provides: { "ota.key": "1" },
  artifactName: "ota-1",
  writes: 0,
  ...extra,
});

Deno.test("carry-over: Mender's name and provides on a device ota never ran on", () =>
  withData(async (dir) => {
    await writeMender(dir, 4, committed);
    const store = await loadDeviceStore(dir);
    assertEquals(store.artifactName, "rel-2");
    assertEquals({ ...store.provides }, { "rootfs-image.single-file.version": "2" });
    assertEquals(store.menderTxn, 4);
    assertEquals(store.update, undefined);
  }));

Deno.test("carry-over: provides named like object machinery are kept as plain keys", () =>
  withData(async (dir) => {
    const provides = `{"__proto__":"p","constructor":"c","toString":"t"}`;
    await writeMender(dir, 5, { "artifact-name": "rel-3", "artifact-provides": provides });
    const store = await loadDeviceStore(dir);
    assertEquals(Object.entries(store.provides), [["__proto__", "p"], ["constructor", "c"], [
      "toString",
      "t",
    ]]);
    assertEquals(Object.getPrototypeOf(store.provides), null);
  }));

Deno.test("carry-over: ota's store wins until Mender writes again", () =>
  withData(async (dir) => {
    await writeMender(dir, 4, committed);
    await saveStore(dir, otaStore({ menderTxn: 4 }));
    assertEquals((await loadDeviceStore(dir)).artifactName, "ota-1");
    await writeMender(dir, 5, { ...committed, "artifact-name": "rel-5" });
    assertEquals((await loadDeviceStore(dir)).artifactName, "rel-5");
  }));

Deno.test("carry-over: without a recorded transaction the file times decide", () =>
  withData(async (dir) => {
    await writeMender(dir, 4, committed);
    await saveStore(dir, otaStore());
    await Deno.utime(`${dir}/mender-store`, 1000, 1000);
    assertEquals((await loadDeviceStore(dir)).artifactName, "ota-1");
    await Deno.utime(storePath(dir), 500, 500);
    assertEquals((await loadDeviceStore(dir)).artifactName, "rel-2");
  }));

Deno.test("carry-over: an update Mender left waiting becomes ota's, and goes when Mender ends it", () =>
  withData(async (dir) => {
    await writeMender(dir, 6, { ...committed, "standalone-state": waiting("rel-3") });
    const store = await loadDeviceStore(dir);
    assertEquals(store.artifactName, "rel-2");
    const record = store.update!;
    assertEquals(record.state, "Before_ArtifactCommit_Enter");
    assertEquals(record.headerInfo.artifact_provides.artifact_name, "rel-3");
    assertEquals(record.payloads[0]?.typeInfo.clears_artifact_provides, [
      "rootfs-image.single-file.*",
    ]);
    // ota saves it (and writes it back for Mender), then Mender commits it
    await saveDeviceStore(dir, store);
    assertEquals((await loadDeviceStore(dir)).update?.state, "Before_ArtifactCommit_Enter");
    const txn = (await readLmdbFile(`${dir}/mender-store`))!.txnid;
    await writeMender(dir, txn + 1, { ...committed, "artifact-name": "rel-3" });
    const after = await loadDeviceStore(dir);
    assertEquals([after.artifactName, after.update], ["rel-3", undefined]);
  }));

Deno.test("carry-over: an interrupted ota install survives an unrelated Mender write", () =>
  withData(async (dir) => {
    await writeMender(dir, 3, { ...committed, "standalone-state": waiting("rel-3") });
    const record = (await loadDeviceStore(dir)).update!;
    await saveStore(
      dir,
      otaStore({ menderTxn: 3, update: { ...record, state: "ArtifactInstall_Enter" } }),
    );
    await writeMender(dir, 9, { ...committed, "update-control-maps": "{}" });
    const store = await loadDeviceStore(dir);
    assertEquals(store.update?.state, "ArtifactInstall_Enter");
    assertEquals([store.artifactName, store.menderTxn], ["rel-2", 9]);
  }));

Deno.test("mirror: ota's commit written into Mender's store once, other keys kept", () =>
  withData(async (dir) => {
    await writeMender(dir, 7, {
      ...committed,
      "state":
        `{"Version":2,"Name":"cleanup","UpdateInfo":{"Artifact":{"artifact_name":"x","PayloadTypes":["a"]}}}`,
      "update-control-maps": "kept",
    });
    const store = otaStore({ artifactGroup: "g", menderTxn: 7 });
    assertEquals(await saveDeviceStore(dir, store), undefined);
    const mender = (await readMenderStore(dir))!;
    assertEquals(mender.txnid, 8);
    assertEquals(store.menderTxn, 8);
    assertEquals(
      Object.fromEntries(mender.entries.map((e) => [text.decode(e.key), text.decode(e.value)])),
      {
        "artifact-group": "g",
        "artifact-name": "ota-1",
        "artifact-provides": `{"ota.key":"1"}`,
        "update-control-maps": "kept",
      },
    );
    // nothing differs: no new transaction
    await saveDeviceStore(dir, store);
    assertEquals((await readMenderStore(dir))?.txnid, 8);
    assertEquals((await loadDeviceStore(dir)).artifactName, "ota-1");
  }));

Deno.test("mirror: a device ota updated first gets a mender-store only once it has a name", () =>
  withData(async (dir) => {
    await saveDeviceStore(dir, { version: 1, provides: {}, writes: 0 });
    assert(!(await Deno.stat(`${dir}/mender-store`).catch(() => false)));
    await saveDeviceStore(dir, otaStore());
    assertEquals((await readMenderStore(dir))?.artifactName, "ota-1");
    assertEquals((await readMenderStore(dir))?.txnid, 1);
  }));

Deno.test("artifact_info: Mender 3.4's rules", () => {
  const parse = (t: string) => parseArtifactInfo(t, "/etc/mender/artifact_info");
  assertEquals(parse("artifact_name=rel-1\n"), { name: "rel-1" });
  assertEquals(parse("# c\nartifact_group=g\n artifact_name = rel-1 \n").name, undefined);
  assertEquals(parse("# c\nartifact_group=g\nartifact_name= rel-1 \n").name, "rel-1");
  for (const broken of ["", "artifact_name=\n", "x\nartifact_name=a\n", "artifact_name=a\n\n"]) {
    assert(parse(broken).problem, JSON.stringify(broken));
  }
  assert(parse("artifact_name=a\nartifact_name=b\n").problem?.includes("More than one"));
});
