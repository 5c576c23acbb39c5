/**
 * What Mender's client keeps in `<data>/mender-store` (LMDB), read as the clients write it:
 * the Go client 3.x (datastore/dbkeys.go) and the C++ client 4.x/5.x (context.cpp,
 * standalone and daemon state data) share the keys
 *   artifact-name, artifact-group   the installed artifact's name and group (plain strings);
 *   artifact-provides               its other provides, a JSON object of strings;
 *   standalone-state                an update `install` left: version 1 (3.x, 4.x) means
 *                                   "installed, waiting for commit"; version 2 (5.x) names
 *                                   the state (InState) and the Failed/RolledBack flags;
 *   state, state-uncommitted        the daemon's update (version 2; 1 before Mender 2.0).
 * Each value is checked before it is believed; a value Mender would not have written is an
 * error with the key's name, not a guess.
 */
import { z } from "zod";
import { fail } from "../errors.ts";
import type { RebootAnswer } from "../handlers/handler.ts";
import { type LmdbEntry, type LmdbLayout, readLmdbFile } from "./lmdb.ts";
import type { UpdateState } from "./store.ts";
import { dataRecord } from "../records.ts";
import { dataRecordSchema } from "../artifact/schema.ts";

export const MENDER_STORE_FILE = "mender-store";
export const KEYS = {
  name: "artifact-name",
  group: "artifact-group",
  provides: "artifact-provides",
  standalone: "standalone-state",
  state: "state",
  stateUncommitted: "state-uncommitted",
} as const;
/** Mender marks an artifact it could not install or roll back cleanly with this suffix. */
export const INCONSISTENT_SUFFIX = "_INCONSISTENT";

/** An update Mender left, in Mender's terms plus the ota state it continues from. */
export interface MenderUpdate {
  /** Which record it came from: `install` (standalone-state) or the daemon (state). */
  from: "standalone" | "daemon";
  /** The state as Mender recorded it (for messages). */
  menderState: string;
  /** Where ota carries on; undefined when the update is over (only a report was left). */
  state: UpdateState | undefined;
  artifactName: string;
  artifactGroup?: string;
  /** Type-info provides; undefined when the artifact had none. */
  provides?: Record<string, string>;
  clears?: string[];
  payloadType: string;
  deviceTypes: string[];
  id?: string;
  uri?: string;
  needsReboot?: RebootAnswer;
  supportsRollback?: boolean;
  failed: boolean;
  rolledBack: boolean;
}

export interface MenderStore {
  path: string;
  txnid: number;
  layout: LmdbLayout;
  entries: LmdbEntry[];
  artifactName?: string;
  artifactGroup?: string;
  /** artifact-provides without artifact_name/artifact_group (those have keys of their own). */
  provides: Record<string, string>;
  update?: MenderUpdate;
}

const text = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

export function entryValue(entries: LmdbEntry[], key: string): Uint8Array | undefined {
  const wanted = encoder.encode(key);
  return entries.find((e) =>
    e.key.length === wanted.length && e.key.every((b, i) => b === wanted[i])
  )
    ?.value;
}

function invalid(path: string, key: string, detail: string): never {
  fail("MENDER_STORE_INVALID", `${path}: the value of ${key} is not what Mender writes: ${detail}`);
}

function stringOf(path: string, entries: LmdbEntry[], key: string): string | undefined {
  const value = entryValue(entries, key);
  if (value === undefined) return undefined;
  try {
    return text.decode(value);
  } catch {
    invalid(path, key, "not UTF-8");
  }
}

function jsonOf<T>(path: string, entries: LmdbEntry[], key: string, schema: z.ZodType<T>) {
  const raw = stringOf(path, entries, key);
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    invalid(path, key, "not JSON");
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    invalid(path, key, `${issue?.path.join(".") || "value"}: ${issue?.message}`);
  }
  return result.data;
}

const strings = z.array(z.string().max(4096)).max(1024);
const stringMap = dataRecordSchema(z.string().max(4096), z.string().max(4096));
/** Go marshals a nil map or slice as null; treat it as absent. */
const orNull = <T extends z.ZodType>(schema: T) =>
  schema.nullish().transform((v) => v ?? undefined);

const standaloneSchema = z.object({
  Version: z.union([z.literal(1), z.literal(2)]),
  ArtifactName: z.string().min(1).max(4096),
  ArtifactGroup: z.string().max(4096).optional(),
  ArtifactTypeInfoProvides: orNull(stringMap),
  ArtifactClearsProvides: orNull(strings),
  PayloadTypes: strings,
  InState: z.string().max(256).optional(),
  Failed: z.boolean().optional(),
  RolledBack: z.boolean().optional(),
});

const daemonSchema = z.object({
  Version: z.number().int(),
  Name: z.string().max(256),
  UpdateInfo: z.object({
    Artifact: z.object({
      Source: z.object({ URI: z.string().max(65536).optional() }).optional(),
      device_types_compatible: orNull(strings),
      PayloadTypes: orNull(strings),
      artifact_name: z.string().max(4096),
      artifact_group: z.string().max(4096).optional(),
      artifact_provides: orNull(stringMap),
      clears_artifact_provides: orNull(strings),
    }),
    ID: z.string().max(256).optional(),
    RebootRequested: orNull(z.array(z.string())),
    SupportsRollback: z.string().optional(),
  }),
});
type DaemonState = z.infer<typeof daemonSchema>;

/** Mender 5's InState values, which are ota's state names (Before_ArtifactCommit_Leave aside). */
const standaloneStates: Record<string, UpdateState> = {
  Before_ArtifactInstall_Enter: "Before_ArtifactInstall_Enter",
  ArtifactInstall_Enter: "ArtifactInstall_Enter",
  Before_ArtifactCommit_Enter: "Before_ArtifactCommit_Enter",
  ArtifactCommit_Enter: "ArtifactCommit_Enter",
  Before_ArtifactCommit_Leave: "ArtifactCommit_Leave",
  ArtifactCommit_Leave: "ArtifactCommit_Leave",
  ArtifactRollback_Enter: "ArtifactRollback_Enter",
  ArtifactFailure_Enter: "ArtifactFailure_Enter",
  Cleanup: "Cleanup",
};

/**
 * The daemon's state names (Go's stateNames, C++'s kUpdateState*) -> where ota carries on.
 * Before the install nothing changed (clean up); after it the update waits for a commit;
 * report states mean the update is over. Any other name is rolled back, as Mender 4 does.
 */
const daemonStates: Record<string, UpdateState | undefined> = {
  "update-fetch": "Download_Enter",
  "update-store": "Download_Enter",
  "update-after-store": "Download_Enter",
  "fetch-install-retry-wait": "Download_Enter",
  "mender-update-control": "Download_Enter",
  "mender-update-control-pause": "Download_Enter",
  "mender-update-control-refresh-maps": "Download_Enter",
  "mender-update-control-retry-refresh-maps": "Download_Enter",
  "update-install": "ArtifactInstall_Enter",
  "reboot": "Before_ArtifactCommit_Enter",
  "verify-reboot": "Before_ArtifactCommit_Enter",
  "after-reboot": "Before_ArtifactCommit_Enter",
  "update-verify": "Before_ArtifactCommit_Enter",
  "update-pre-commit-status-report-retry": "Before_ArtifactCommit_Enter",
  "update-commit": "ArtifactCommit_Enter",
  "update-after-first-commit": "ArtifactCommit_Leave",
  "update-after-commit": "ArtifactCommit_Leave",
  "rollback": "ArtifactRollback_Enter",
  "rollback-reboot": "ArtifactRollback_Enter",
  "verify-rollback-reboot": "ArtifactRollback_Enter",
  "after-rollback-reboot": "ArtifactRollback_Enter",
  "update-error": "ArtifactFailure_Enter",
  "cleanup": "Cleanup",
  "update-status-report": undefined,
  "update-retry-report": undefined,
  "status-report-error": undefined,
};

const rebootAnswers: Record<string, RebootAnswer> = {
  "": "No",
  "reboot-type-custom": "Yes",
  "reboot-type-automatic": "Automatic",
};

function onePayload(path: string, key: string, types: string[] | undefined): string {
  if (!types?.length) invalid(path, key, "no payload types");
  if (types.length > 1) {
    fail("NOT_SUPPORTED", `${path}: ${key} holds an update with ${types.length} payloads`);
  }
  return types[0]!;
}

function fromStandalone(path: string, entries: LmdbEntry[]): MenderUpdate | undefined {
  const data = jsonOf(path, entries, KEYS.standalone, standaloneSchema);
  if (!data) return undefined;
  const inState = data.Version === 1 ? "Before_ArtifactCommit_Enter" : data.InState;
  const state = inState === undefined ? undefined : standaloneStates[inState];
  if (!state) invalid(path, KEYS.standalone, `unknown InState ${JSON.stringify(inState)}`);
  return {
    from: "standalone",
    menderState: inState!,
    state,
    artifactName: data.ArtifactName,
    artifactGroup: data.ArtifactGroup || undefined,
    provides: data.ArtifactTypeInfoProvides,
    clears: data.ArtifactClearsProvides,
    payloadType: onePayload(path, KEYS.standalone, data.PayloadTypes),
    deviceTypes: [],
    failed: data.Failed ?? false,
    rolledBack: data.RolledBack ?? false,
  };
}

/** Before Mender 2.0 (state data version 1) only rootfs-image existed (Go's LoadStateData). */
function daemonRecord(path: string, entries: LmdbEntry[]): DaemonState | undefined {
  const data = jsonOf(path, entries, KEYS.state, daemonSchema);
  if (!data || data.Version === 2) return data;
  if (data.Version !== 0 && data.Version !== 1) {
    invalid(path, KEYS.state, `state data version ${data.Version}`);
  }
  const newer = jsonOf(path, entries, KEYS.stateUncommitted, daemonSchema);
  if (newer && newer.UpdateInfo.ID === data.UpdateInfo.ID) return newer;
  data.UpdateInfo.Artifact.PayloadTypes = ["rootfs-image"];
  data.UpdateInfo.RebootRequested = ["reboot-type-custom"];
  data.UpdateInfo.SupportsRollback = "rollback-supported";
  return data;
}

function fromDaemon(path: string, entries: LmdbEntry[]): MenderUpdate | undefined {
  const data = daemonRecord(path, entries);
  if (!data) return undefined;
  const info = data.UpdateInfo;
  const artifact = info.Artifact;
  const state = data.Name in daemonStates ? daemonStates[data.Name] : "ArtifactRollback_Enter";
  const reboot = info.RebootRequested?.[0];
  if (reboot !== undefined && !(reboot in rebootAnswers)) {
    invalid(path, KEYS.state, `RebootRequested ${JSON.stringify(reboot)}`);
  }
  const rollback = info.SupportsRollback;
  if (rollback && rollback !== "rollback-supported" && rollback !== "rollback-not-supported") {
    invalid(path, KEYS.state, `SupportsRollback ${JSON.stringify(rollback)}`);
  }
  if (!artifact.artifact_name) invalid(path, KEYS.state, "no artifact_name");
  return {
    from: "daemon",
    menderState: data.Name,
    state,
    artifactName: artifact.artifact_name,
    artifactGroup: artifact.artifact_group || undefined,
    provides: artifact.artifact_provides,
    clears: artifact.clears_artifact_provides,
    payloadType: onePayload(path, KEYS.state, artifact.PayloadTypes),
    deviceTypes: artifact.device_types_compatible ?? [],
    id: info.ID || undefined,
    uri: artifact.Source?.URI || undefined,
    needsReboot: reboot === undefined ? undefined : rebootAnswers[reboot],
    supportsRollback: rollback ? rollback === "rollback-supported" : undefined,
    failed: state === "ArtifactRollback_Enter" || state === "ArtifactFailure_Enter",
    rolledBack: false,
  };
}

/** Interprets the keys of a Mender store (the main database of its newest snapshot). */
export function interpretMenderStore(
  path: string,
  snapshot: { txnid: number; entries: LmdbEntry[] } & LmdbLayout,
): MenderStore {
  const { entries, txnid, ...layout } = snapshot;
  // 4.x skips empty values; 3.x never writes an empty name.
  const name = stringOf(path, entries, KEYS.name) || undefined;
  const group = stringOf(path, entries, KEYS.group) || undefined;
  // 3.x writes `null` for an artifact without provides, 4.x an empty value.
  const raw = stringOf(path, entries, KEYS.provides);
  const provides = raw === undefined || raw === "" || raw === "null"
    ? dataRecord<string>()
    : jsonOf(path, entries, KEYS.provides, stringMap) ?? dataRecord<string>();
  delete provides.artifact_name;
  delete provides.artifact_group;
  return {
    path,
    txnid,
    layout,
    entries,
    artifactName: name,
    artifactGroup: group,
    provides,
    update: fromStandalone(path, entries) ?? fromDaemon(path, entries),
  };
}

/** Reads `<dataDir>/mender-store`; undefined when there is none. */
export async function readMenderStore(dataDir: string): Promise<MenderStore | undefined> {
  const path = `${dataDir}/${MENDER_STORE_FILE}`;
  const snapshot = await readLmdbFile(path);
  return snapshot && interpretMenderStore(path, snapshot);
}
