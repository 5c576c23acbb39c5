/**
 * ota's LMDB reader and writer against liblmdb (python3-lmdb, mdb_load): Mender 4.x/5.x
 * databases built with the key names and value formats of Mender's C++ source, in the
 * 64-bit layout, with values on overflow pages and trees with branch pages; liblmdb reading
 * and writing on top of what ota wrote; a file read while liblmdb commits to it.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  lmdbRead,
  lmdbWrite,
  lmdbWriterLoop,
  pythonLmdbAvailable,
} from "../helpers/lmdb_python.ts";
import { hasCommand, run } from "../helpers/mod.ts";
import { parseLmdb, readLmdbFile } from "../../src/device/lmdb.ts";
import { buildLmdb } from "../../src/device/lmdb_write.ts";
import { readMenderStore } from "../../src/device/mender_store.ts";
import { carryOver } from "../../src/device/carry_over.ts";

const ignore = !pythonLmdbAvailable();
const text = new TextDecoder();
const enc = new TextEncoder();

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ota-lmdb-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** 300 provides: about 20 KiB of JSON, on overflow pages, as context.cpp writes it. */
const manyProvides = Object.fromEntries(
  Array.from(
    { length: 300 },
    (_, i) => [`data-partition.app${i}.version`, `v${i}-${"x".repeat(30)}`],
  ),
);
const cppJson = (map: Record<string, string>) =>
  `{${Object.entries(map).map(([k, v]) => `"${k}":"${v}"`).join(",")}}`;

Deno.test({
  name: "lmdb: Mender 4.x's keys written by liblmdb, read back with overflow pages",
  ignore,
  fn: () =>
    withDir(async (dir) => {
      const path = `${dir}/mender-store`;
      const view = await lmdbWrite(path, [
        {
          "artifact-name": "release-1",
          "artifact-provides": `{"rootfs-image.version":"release-1"}`,
        },
        {
          "artifact-name": "release-4",
          "artifact-group": "fleet-a",
          "artifact-provides": cppJson(manyProvides),
          // standalone.cpp's SaveStateData (4.0): version 1, written after ArtifactInstall
          "standalone-state":
            `{"Version":1,"ArtifactName":"release-5","ArtifactGroup":"","PayloadTypes": ["rootfs-image"],"ArtifactTypeInfoProvides": {"rootfs-image.version":"release-5"},"ArtifactClearsProvides": ["rootfs-image.*"]}`,
          "update-control-maps": "z".repeat(100_000),
        },
        { "update-control-maps": null, "authtoken": "gone" },
      ]);
      assert(view.overflow > 0, "the test must put values on overflow pages");
      const snapshot = await readLmdbFile(path);
      assertEquals(snapshot?.wordSize, 8);
      assertEquals(snapshot?.txnid, view.txnid);
      assertEquals(snapshot?.entries.map((e) => [e.key, e.value]), view.entries);
      const store = await readMenderStore(dir);
      assertEquals(store?.artifactName, "release-4");
      assertEquals(store?.artifactGroup, "fleet-a");
      assertEquals(store?.provides, manyProvides);
      assertEquals(store?.update?.state, "Before_ArtifactCommit_Enter");
      assertEquals(store?.update?.artifactName, "release-5");
      assertEquals(store?.update?.clears, ["rootfs-image.*"]);
      assertEquals(store?.update?.payloadType, "rootfs-image");
    }),
});

Deno.test({
  name: "lmdb: Mender 5's standalone state and 4.x's daemon state, carried into ota's store",
  ignore,
  fn: () =>
    withDir(async (dir) => {
      const path = `${dir}/mender-store`;
      await lmdbWrite(path, [{
        "artifact-name": "release-4",
        "artifact-provides": `{"rootfs-image.version":"release-4","keep.me":"1"}`,
        "standalone-state":
          `{"Version":2,"ArtifactName":"release-5","ArtifactGroup":"","PayloadTypes":["rootfs-image"],"ArtifactTypeInfoProvides":{"rootfs-image.version":"release-5"},"ArtifactClearsProvides":["rootfs-image.*"],"InState":"ArtifactCommit_Leave","Failed":false,"RolledBack":false}`,
      }]);
      const five = (await readMenderStore(dir))!;
      assertEquals(five.update?.state, "ArtifactCommit_Leave");
      // Mender 5 records the name in Cleanup, ota in ArtifactCommit_Leave: recorded on the way in
      const carried = carryOver({ version: 1, provides: {}, writes: 0 }, five, new Date(0));
      assertEquals(carried.artifactName, "release-5");
      assertEquals(carried.provides, { "rootfs-image.version": "release-5", "keep.me": "1" });
      assertEquals(carried.update?.state, "ArtifactCommit_Leave");
      assertEquals(carried.menderTxn, five.txnid);

      // context.cpp's GenerateStateDataJson, in the daemon's "after-reboot" state
      const daemon =
        `{"Version":2,"Name":"after-reboot","UpdateInfo":{"Artifact":{"Source":{"URI":"https://s3/x","Expire":""},"device_types_compatible":["board"],"PayloadTypes":["rootfs-image"],"artifact_name":"release-6","artifact_group":"","artifact_provides":{"rootfs-image.version":"release-6"},"clears_artifact_provides":["rootfs-image.*"]},"ID":"0f2a5c3e-8d4b-4a7e-9c1d-2b3e4f5a6b7c","RebootRequested":["reboot-type-automatic"],"SupportsRollback":"rollback-supported","StateDataStoreCount":7,"HasDBSchemaUpdate":false,"AllRollbacksSuccessful":false}}`;
      await lmdbWrite(path, [{ "standalone-state": null, "state": daemon }]);
      const four = (await readMenderStore(dir))!;
      assertEquals(four.update?.from, "daemon");
      assertEquals(four.update?.state, "Before_ArtifactCommit_Enter");
      const record = carryOver({ version: 1, provides: {}, writes: 0 }, four, new Date(0)).update!;
      assertEquals(record.id, "0f2a5c3e-8d4b-4a7e-9c1d-2b3e4f5a6b7c");
      assertEquals(record.needsReboot, "Automatic");
      assertEquals(record.supportsRollback, true);
      assertEquals(record.headerInfo.artifact_depends.device_type, ["board"]);
      assertEquals(record.source, "https://s3/x");
    }),
});

Deno.test({
  name: "lmdb: a deep tree from mdb_load (branch pages over leaves, overflow values)",
  ignore: ignore || !hasCommand("mdb_load"),
  fn: () =>
    withDir(async (dir) => {
      // long keys: few to a page, so the branch levels stack up
      const keys = Array.from(
        { length: 3000 },
        (_, i) => `key-${String(i).padStart(5, "0")}-${"k".repeat(380)}`,
      );
      const value = (i: number) => "v".repeat((i * 131) % 3000);
      const dump = "VERSION=3\nformat=print\ntype=btree\nmapsize=268435456\nHEADER=END\n" +
        keys.map((k, i) => ` ${k}\n ${value(i)}\n`).join("") + "DATA=END\n";
      const path = `${dir}/deep`;
      await Deno.writeTextFile(`${dir}/dump.txt`, dump);
      const load = await run(["mdb_load", "-n", "-f", `${dir}/dump.txt`, path]);
      assertEquals(load.code, 0, load.stderr);
      const view = await lmdbRead(path);
      assert(view.depth >= 3 && view.branch > 1, `depth ${view.depth}`);
      const snapshot = parseLmdb(await Deno.readFile(path), path);
      assertEquals(snapshot.entries.length, keys.length);
      snapshot.entries.forEach((e, i) => {
        assertEquals(text.decode(e.key), keys[i]);
        assertEquals(text.decode(e.value), value(i));
      });
    }),
});

Deno.test({
  name: "lmdb: liblmdb reads what ota writes and commits on top of it",
  ignore,
  fn: () =>
    withDir(async (dir) => {
      const path = `${dir}/mender-store`;
      const entries = Array.from({ length: 2000 }, (_, i) => ({
        key: enc.encode(`k${i}`),
        value: enc.encode("w".repeat((i * 53) % 6000)),
      }));
      await Deno.writeFile(path, buildLmdb(entries, { txnid: 41 }));
      const view = await lmdbRead(path);
      assertEquals(view.txnid, 41);
      assert(view.depth >= 2 && view.overflow > 0, `depth ${view.depth}`);
      const sorted = [...entries].sort((a, b) => text.decode(a.key) < text.decode(b.key) ? -1 : 1);
      assertEquals(view.entries, sorted.map((e) => [e.key, e.value]));
      // liblmdb goes on from ota's transaction, and ota reads what it committed
      const after = await lmdbWrite(path, [{
        "k7": "changed",
        "new": "x".repeat(9000),
        "k8": null,
      }]);
      assertEquals(after.txnid, 42);
      const back = parseLmdb(await Deno.readFile(path), path);
      assertEquals(back.txnid, 42);
      assertEquals(back.entries.map((e) => [e.key, e.value]), after.entries);
      const stat = await run(["mdb_stat", "-n", "-f", "-e", path]);
      assertEquals(stat.code, 0, stat.stderr);
    }),
});

Deno.test({
  name: "lmdb: a file read while liblmdb commits to it gives whole snapshots",
  ignore,
  fn: () =>
    withDir(async (dir) => {
      const path = `${dir}/live`;
      await lmdbWrite(path, [{ a: "0", b: "0" }]);
      const writer = lmdbWriterLoop(path, 1500);
      let done = false;
      writer.finally(() => done = true);
      let reads = 0;
      let last = -1;
      while (!done) {
        const snapshot = await readLmdbFile(path);
        const get = (k: string) =>
          text.decode(snapshot!.entries.find((e) => text.decode(e.key) === k)?.value);
        assertEquals(get("a"), get("b"), "both keys come from one transaction");
        assert(snapshot!.txnid >= last, "snapshots never go back");
        last = snapshot!.txnid;
        reads++;
      }
      const view = await writer;
      assert(reads > 5, `only ${reads} reads during the writes`);
      assertEquals((await readLmdbFile(path))?.txnid, view.txnid);
    }),
});
