/**
 * What the device remembers, in one small JSON file replaced atomically (write temp, fsync,
 * rename, fsync dir): the installed artifact's name, group and provides, and the record of
 * an update in progress. Because both live in one file, a commit changes the name and
 * the update state in one atomic step.
 */
import { mkdir } from "node:fs/promises";
import { z } from "zod";
import { dataRecordSchema, headerInfoSchema, typeInfoSchema } from "../artifact/schema.ts";
import { fail } from "../errors.ts";
import { atomicWriteFile, readTextIfExists } from "../files.ts";
import { dataRecord } from "../records.ts";

/**
 * Where an update stands; named after Mender's standalone states. `Before_*` states are
 * pauses (an update stopped with --stop-before, or installed and waiting for commit); the
 * others mark a step that was under way.
 */
export const updateStates = [
  "Download_Enter",
  "Before_ArtifactInstall_Enter",
  "ArtifactInstall_Enter",
  "Before_ArtifactCommit_Enter",
  "ArtifactCommit_Enter",
  "ArtifactCommit_Leave",
  "ArtifactRollback_Enter",
  "ArtifactFailure_Enter",
  "Cleanup",
] as const;
export type UpdateState = typeof updateStates[number];

export const pausedStates: readonly UpdateState[] = [
  "Before_ArtifactInstall_Enter",
  "Before_ArtifactCommit_Enter",
];

export const updateRecordSchema = z.object({
  id: z.string(),
  state: z.enum(updateStates),
  startedAt: z.string(),
  source: z.string(),
  headerInfo: headerInfoSchema,
  payloads: z.array(z.object({ type: z.string().nullable(), typeInfo: typeInfoSchema })),
  needsReboot: z.enum(["No", "Yes", "Automatic"]).optional(),
  supportsRollback: z.boolean().optional(),
  /** Set once the update failed; the error path then runs to the end. */
  failed: z.boolean().default(false),
  error: z.string().optional(),
});
export type UpdateRecord = z.infer<typeof updateRecordSchema>;

export const storeSchema = z.object({
  version: z.literal(1),
  artifactName: z.string().optional(),
  artifactGroup: z.string().optional(),
  /** Kept without prototype, every key as written (`__proto__` included). */
  provides: dataRecordSchema(z.string(), z.string()).default(dataRecord),
  update: updateRecordSchema.optional(),
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

/** Parses the device_type file: `device_type=<type>` on its first line. */
export function parseDeviceType(text: string, path: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const first = lines[0]?.trim() ?? "";
  if (!first.startsWith("device_type=") || first.length === "device_type=".length) {
    fail("DEVICE_TYPE_INVALID", `${path} must hold one line 'device_type=<type>'`);
  }
  if (lines.length > 1) fail("DEVICE_TYPE_INVALID", `${path} has more than one line`);
  return first.slice("device_type=".length);
}
