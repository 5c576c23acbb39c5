/**
 * One device, two clients: what Mender's store (mender-store) knows is carried into ota's
 * (ota-store.json) when Mender wrote last, and ota's state is written back into Mender's
 * store when ota writes (src/device/mender_mirror.ts). The rules:
 *
 * 1. ota's store is used as it is when there is no mender-store, or when Mender has not
 *    written since ota last read or wrote it: its transaction number is not above the one
 *    ota recorded (`menderTxn`). A store from before ota knew this has no record; then the
 *    file times decide.
 * 2. Otherwise Mender was the last to write, and its knowledge wins:
 *    - the artifact name, group and provides are Mender's (when it has a name);
 *    - an update Mender left in progress becomes ota's update, at the state where ota
 *      carries on (src/device/mender_store.ts); where Mender had committed the artifact
 *      but not yet recorded its name, the commit is recorded here, once;
 *    - without one, an update ota had left waiting for a commit is over if ota had written
 *      it into Mender's store (Mender committed or rolled it back); any other stays.
 * Nothing is written here: the next save of the store (saveDeviceStore) writes both.
 */
import { randomUUID } from "node:crypto";
import { promises as fs } from "node:fs";
import type { ArtifactHeader } from "../artifact/header.ts";
import { fail } from "../errors.ts";
import { providesAfterCommit } from "./provides.ts";
import {
  INCONSISTENT_SUFFIX,
  MENDER_STORE_FILE,
  type MenderStore,
  type MenderUpdate,
  readMenderStore,
} from "./mender_store.ts";
import {
  loadStore,
  type StoreData,
  storePath,
  type UpdateRecord,
  updateRecordSchema,
  type UpdateState,
} from "./store.ts";
import { mergeRecords } from "../records.ts";

/** The states in which ota writes its update into Mender's store (as standalone-state). */
export const MIRRORED_STATES: readonly UpdateState[] = ["Before_ArtifactCommit_Enter"];

/**
 * The device's store as every command should see it: ota's own, with what Mender knows
 * carried over when Mender wrote last (the rules above).
 */
export async function loadDeviceStore(dataDir: string): Promise<StoreData> {
  const otaStat = await fs.stat(storePath(dataDir)).catch(() => undefined);
  const ota = await loadStore(dataDir);
  const mender = await readMenderStore(dataDir);
  if (!mender) return ota;
  if (otaStat) {
    if (ota.menderTxn !== undefined && mender.txnid <= ota.menderTxn) return ota;
    if (ota.menderTxn === undefined) {
      const menderStat = await fs.stat(`${dataDir}/${MENDER_STORE_FILE}`).catch(() => undefined);
      if (!menderStat || menderStat.mtimeMs <= otaStat.mtimeMs) return ota;
    }
  }
  const started = await fs.stat(mender.path).then((s) => s.mtime, () => new Date());
  return carryOver(ota, mender, started);
}

/** Rule 2: ota's store updated with what Mender knows (pure; `started` dates an update). */
export function carryOver(ota: StoreData, mender: MenderStore, started: Date): StoreData {
  const store: StoreData = structuredClone(ota);
  store.provides = mergeRecords(ota.provides); // the clone's has a prototype again
  store.menderTxn = mender.txnid;
  if (mender.artifactName) {
    store.artifactName = mender.artifactName;
    store.artifactGroup = mender.artifactGroup;
    store.provides = mergeRecords(mender.provides);
  }
  const update = mender.update;
  if (update) {
    if (update.state === undefined) {
      delete store.update;
    } else {
      store.update = recordOf(update, update.state, started, mender.path);
      if (committedNotRecorded(update, mender)) commitName(store, store.update, update);
    }
    store.writes = 0;
  } else if (
    ota.update && ota.menderTxn !== undefined && MIRRORED_STATES.includes(ota.update.state)
  ) {
    delete store.update;
    store.writes = 0;
  }
  return store;
}

/**
 * Mender 5's standalone client records the name in Cleanup and its daemon in its last
 * state; ota records it in ArtifactCommit_Leave. So a Mender update past its commit whose
 * name is not yet Mender's gets its commit recorded on the way in (a rollback keeps the name).
 */
function committedNotRecorded(update: MenderUpdate, mender: MenderStore): boolean {
  if (update.rolledBack || mender.artifactName === update.artifactName) return false;
  if (update.state === "ArtifactCommit_Leave") return true;
  return update.state === "Cleanup" && update.from === "standalone";
}

function commitName(store: StoreData, record: UpdateRecord, update: MenderUpdate): void {
  const header: ArtifactHeader = {
    info: record.headerInfo,
    infoBytes: new Uint8Array(0),
    scripts: [],
    payloads: record.payloads.map((p, index) => ({
      index,
      type: p.type,
      typeInfo: p.typeInfo,
      typeInfoBytes: new Uint8Array(0),
    })),
  };
  const before = mergeRecords(store.provides);
  if (store.artifactName) before.artifact_name = store.artifactName;
  if (store.artifactGroup) before.artifact_group = store.artifactGroup;
  const after = providesAfterCommit(before, header);
  store.artifactName = update.failed
    ? `${update.artifactName}${INCONSISTENT_SUFFIX}`
    : update.artifactName;
  store.artifactGroup = after.artifact_group;
  delete after.artifact_name;
  delete after.artifact_group;
  store.provides = after;
}

/** A name safe for the update log's file name; Mender's daemon uses deployment UUIDs. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** ota's update record for an update Mender left, checked as ota checks its own. */
export function recordOf(
  update: MenderUpdate,
  state: UpdateState,
  started: Date,
  path: string,
): UpdateRecord {
  const rootfs = update.payloadType === "rootfs-image";
  const typeInfo = {
    type: update.payloadType,
    ...(update.provides ? { artifact_provides: update.provides } : {}),
    ...(update.clears ? { clears_artifact_provides: update.clears } : {}),
  };
  const record = {
    id: update.id && SAFE_ID.test(update.id) ? update.id : randomUUID(),
    state,
    startedAt: started.toISOString(),
    source: update.uri ?? `${path} (left by Mender's ${update.from}, ${update.menderState})`,
    headerInfo: {
      payloads: [{ type: update.payloadType }],
      artifact_provides: {
        artifact_name: update.artifactName,
        ...(update.artifactGroup ? { artifact_group: update.artifactGroup } : {}),
      },
      // Mender's standalone record keeps no device types; the device's own was checked.
      artifact_depends: { device_type: update.deviceTypes.length ? update.deviceTypes : ["*"] },
    },
    payloads: [{ type: update.payloadType, typeInfo }],
    needsReboot: update.needsReboot ?? (rootfs ? "Automatic" : undefined),
    supportsRollback: update.supportsRollback ?? (rootfs ? true : undefined),
    failed: update.failed,
  };
  const result = updateRecordSchema.safeParse(record);
  if (!result.success) {
    const issue = result.error.issues[0];
    fail(
      "MENDER_STORE_INVALID",
      `${path}: the update Mender left (${update.artifactName}) cannot be carried on: ${
        issue?.path.join(".")
      }: ${issue?.message}`,
    );
  }
  return result.data;
}
