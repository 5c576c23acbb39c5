/**
 * What the device remembers, in one small JSON file replaced atomically (write temp, fsync,
 * rename, fsync dir): the installed artifact's name, group and provides, and the record of
 * an update in progress. Because both live in one file, a commit changes the name and
 * the update state in one atomic step.
 */
import { mkdir } from "node:fs/promises";
import { z } from "zod";
import { headerInfoSchema, typeInfoSchema } from "../artifact/schema.ts";
import { dataRecordSchema, zodOf } from "../zod_shapes.ts";
import { fail } from "../errors.ts";
import { atomicWriteFile, readTextIfExists } from "../files.ts";
import { dataRecord } from "../records.ts";
import { stopPoints } from "../update/stop_before.ts";

/**
 * Where an update stands, as written before each state acts: the names of Mender's
 * standalone states (so a store written by an older ota, or read by one, keeps its meaning),
 * and for the reboot states of managed mode the same style. src/update/machine.ts maps each
 * to its state; `Before_*` are pauses.
 */
export const updateStates = [
  "Download_Enter",
  "Before_ArtifactInstall_Enter",
  "ArtifactInstall_Enter",
  "ArtifactReboot_Enter",
  "ArtifactVerifyReboot",
  "Before_ArtifactCommit_Enter",
  "ArtifactCommit_Enter",
  "ArtifactCommit_Leave",
  "ArtifactRollback_Enter",
  "ArtifactRollbackReboot_Enter",
  "ArtifactVerifyRollbackReboot",
  "ArtifactFailure_Enter",
  "Cleanup",
] as const;
export type UpdateState = typeof updateStates[number];

export const updateRecordSchema = z.object({
  id: z.string(),
  state: z.enum(updateStates),
  startedAt: z.string(),
  source: z.string(),
  headerInfo: zodOf(headerInfoSchema),
  payloads: z.array(z.object({ type: z.string().nullable(), typeInfo: zodOf(typeInfoSchema) })),
  needsReboot: z.enum(["No", "Yes", "Automatic"]).optional(),
  supportsRollback: z.boolean().optional(),
  /**
   * The --stop-before point a state stopped at once recorded: the update waits there as at a
   * pause, and only `resume` (or a command that state takes) goes on; the next write drops it.
   */
  stoppedBefore: z.enum(stopPoints).optional(),
  /** Set once ArtifactRollback succeeded, for what a later run reports. */
  rolledBack: z.boolean().optional(),
  /** Set once the update failed; the error path then runs to the end. */
  failed: z.boolean().default(false),
  error: z.string().optional(),
});
export type UpdateRecord = z.infer<typeof updateRecordSchema>;

/**
 * The outcome of an update for a server (managed mode): written in the same write that ends
 * the update, so a crash cannot lose it; the daemon removes it once the server has it. A
 * deployment that ended before an update began (installed already, an artifact the device
 * cannot take) is recorded here the same way.
 */
export const reportSchema = z.object({
  id: z.string(),
  status: z.enum(["success", "failure", "already-installed"]),
  artifactName: z.string(),
  /** The update's log (deployments.NNNN.<id>.log), uploaded after a failure. */
  log: z.string().optional(),
  /** The server took the status: only the log is left to send (a restart sends no status). */
  statusSent: z.boolean().optional(),
});
export type Report = z.infer<typeof reportSchema>;

export const storeSchema = z.object({
  version: z.literal(1),
  artifactName: z.string().optional(),
  artifactGroup: z.string().optional(),
  /** Kept without prototype, every key as written (`__proto__` included). */
  provides: dataRecordSchema(z.string(), z.string()).default(dataRecord),
  update: updateRecordSchema.optional(),
  report: reportSchema.optional(),
  /** How many state records were written for the current update: a loop guard. */
  writes: z.number().int().default(0),
  /**
   * The transaction of Mender's store (mender-store) this state was carried over from or
   * written to: a later one means Mender wrote since (src/device/carry_over.ts).
   */
  menderTxn: z.number().int().nonnegative().optional(),
});
export type StoreData = z.infer<typeof storeSchema>;

const FILE = "ota-store.json";
/** Mender gives up after this many state writes for one update (a crash loop). */
export const MAX_STATE_WRITES = 1000;

export function storePath(dataDir: string): string {
  return `${dataDir}/${FILE}`;
}

export async function loadStore(dataDir: string): Promise<StoreData> {
  const text = await readTextIfExists(storePath(dataDir));
  if (text === undefined) return { version: 1, provides: dataRecord(), writes: 0 };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail(
      "STORE_CORRUPT",
      `${storePath(dataDir)} is not valid JSON; it was not written by ota or was damaged`,
    );
  }
  const result = storeSchema.safeParse(value);
  if (!result.success) {
    fail(
      "STORE_CORRUPT",
      `${storePath(dataDir)} is not an ota store: ${result.error.issues[0]!.message}`,
    );
  }
  return result.data;
}

export async function saveStore(dataDir: string, data: StoreData): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await atomicWriteFile(storePath(dataDir), JSON.stringify(data, null, 2) + "\n");
}
