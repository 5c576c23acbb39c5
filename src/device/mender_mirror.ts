/**
 * ota's state written into Mender's store, so that Mender, switched back, knows what ota
 * installed: the keys of the Go client 3.x, which the C++ client reads the same way:
 *   artifact-name, artifact-group, artifact-provides  once ota has committed an artifact;
 *   standalone-state (version 1)  while ota's update waits for a commit, which Mender's
 *                                 `commit` and `rollback` then finish;
 *   state, state-uncommitted      removed: ota has taken over Mender's update.
 * Every other key is kept as it was. The file is rewritten whole (a fresh database, written
 * to a new file, synced, renamed over the old one) with the next transaction number, and
 * only when a key differs. ota's own store is saved first and records that number, so a
 * power cut between the two leaves ota's store in charge.
 */
import { endianness } from "node:os";
import process from "node:process";
import { atomicWriteFile } from "../files.ts";
import type { LmdbEntry, LmdbLayout } from "./lmdb.ts";
import { buildLmdb } from "./lmdb_write.ts";
import { MIRRORED_STATES } from "./carry_over.ts";
import { KEYS, MENDER_STORE_FILE, type MenderStore, readMenderStore } from "./mender_store.ts";
import { saveStore, type StoreData, type UpdateRecord } from "./store.ts";
import { own } from "../records.ts";

const encoder = new TextEncoder();
const WORD_32_ARCHES = new Set(["arm", "ia32", "mips", "mipsel", "ppc"]);

/**
 * Saves ota's store, then brings Mender's in line with it. Returns why Mender's store was
 * left alone, if it was (unreadable, a write failed): ota's own save has happened then.
 */
export async function saveDeviceStore(dataDir: string, store: StoreData): Promise<string | void> {
  let problem: string | undefined;
  const mender = await readMenderStore(dataDir).catch((error) => {
    problem = `${MENDER_STORE_FILE} was not updated: ${(error as Error).message}`;
    return null;
  });
  const plan = mender === null || endianness() !== "LE" ? undefined : mirrorPlan(store, mender);
  if (plan) store.menderTxn = plan.txnid;
  await saveStore(dataDir, store);
  if (!plan) return problem;
  try {
    await atomicWriteFile(`${dataDir}/${MENDER_STORE_FILE}`, buildLmdb(plan.entries, plan), 0o600);
  } catch (error) {
    return `${MENDER_STORE_FILE} was not updated: ${(error as Error).message}`;
  }
}

export interface MirrorPlan extends Partial<LmdbLayout> {
  txnid: number;
  entries: LmdbEntry[];
}

/** The entries Mender's store should hold for `store`; undefined when it holds them already. */
export function mirrorPlan(store: StoreData, mender: MenderStore | undefined): MirrorPlan | void {
  const wanted = new Map<string, Uint8Array | undefined>();
  if (store.artifactName) {
    wanted.set(KEYS.name, encoder.encode(store.artifactName));
    wanted.set(KEYS.group, store.artifactGroup ? encoder.encode(store.artifactGroup) : undefined);
    if (!mender?.artifactName || !sameMap(mender.provides, store.provides)) {
      wanted.set(KEYS.provides, encoder.encode(goJson(store.provides)));
    }
  }
  const waiting = store.update && MIRRORED_STATES.includes(store.update.state)
    ? standaloneOf(store.update)
    : undefined;
  if (!waiting) wanted.set(KEYS.standalone, undefined);
  else if (!sameWaiting(mender, waiting)) {
    wanted.set(KEYS.standalone, encoder.encode(JSON.stringify(waiting)));
  }
  wanted.set(KEYS.state, undefined);
  wanted.set(KEYS.stateUncommitted, undefined);

  const entries = [...(mender?.entries ?? [])];
  let changed = false;
  for (const [name, value] of wanted) {
    const key = encoder.encode(name);
    const at = entries.findIndex((e) => equalBytes(e.key, key));
    if (value === undefined) {
      if (at >= 0) {
        entries.splice(at, 1);
        changed = true;
      }
    } else if (at < 0) {
      entries.push({ key, value });
      changed = true;
    } else if (!equalBytes(entries[at]!.value, value)) {
      entries[at] = { key, value };
      changed = true;
    }
  }
  if (!changed) return;
  const layout = mender?.layout ?? { wordSize: WORD_32_ARCHES.has(process.arch) ? 4 : 8 };
  return { ...layout, txnid: (mender?.txnid ?? 0) + 1, entries };
}

interface StandaloneV1 {
  Version: 1;
  ArtifactName: string;
  ArtifactGroup: string;
  ArtifactTypeInfoProvides: Record<string, string> | null;
  ArtifactClearsProvides?: string[];
  PayloadTypes: string[];
}

/** Go's StandaloneStateData, as 3.4's `install` writes it after ArtifactInstall. */
function standaloneOf(record: UpdateRecord): StandaloneV1 | undefined {
  const payload = record.payloads[0];
  if (!payload?.type || record.payloads.length !== 1) return undefined;
  const clears = payload.typeInfo.clears_artifact_provides;
  return {
    Version: 1,
    ArtifactName: record.headerInfo.artifact_provides.artifact_name,
    ArtifactGroup: record.headerInfo.artifact_provides.artifact_group ?? "",
    ArtifactTypeInfoProvides: payload.typeInfo.artifact_provides ?? null,
    ...(clears?.length ? { ArtifactClearsProvides: clears } : {}),
    PayloadTypes: [payload.type],
  };
}

/** True when Mender's store already holds this waiting update (in its own bytes, maybe). */
function sameWaiting(mender: MenderStore | undefined, waiting: StandaloneV1): boolean {
  const update = mender?.update;
  return update?.from === "standalone" && update.state === "Before_ArtifactCommit_Enter" &&
    update.artifactName === waiting.ArtifactName &&
    (update.artifactGroup ?? "") === waiting.ArtifactGroup &&
    update.payloadType === waiting.PayloadTypes[0] &&
    sameMap(update.provides ?? {}, waiting.ArtifactTypeInfoProvides ?? {}) &&
    JSON.stringify(update.clears ?? []) === JSON.stringify(waiting.ArtifactClearsProvides ?? []);
}

/** encoding/json's form of a map: keys sorted, no spaces. */
function goJson(map: Record<string, string>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(map).sort(([a], [b]) => a < b ? -1 : 1)));
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === own(b, k));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
