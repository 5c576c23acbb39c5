/**
 * What the daemon must not forget across a restart or a power cut: the deployment under way,
 * the step it reached, and the final report still owed to the server. One small JSON file in
 * the data directory, replaced atomically before each step acts (the update's own record
 * stays in the update store; this file only says where the deployment stands).
 */
import { z } from "zod";
import { fail } from "../errors.ts";
import { atomicWriteFile, readTextIfExists } from "../files.ts";

/**
 * download: report downloading, then fetch and store the artifact;
 * install: report installing, then ArtifactInstall;
 * reboot: report rebooting, then reboot (the next start continues);
 * commit: report installing (the server may have aborted meanwhile), then ArtifactCommit;
 * report: deliver the final status (and the log after a failure).
 */
export const phases = ["download", "install", "reboot", "commit", "report"] as const;
export type Phase = typeof phases[number];

export const finalStatuses = ["success", "failure", "already-installed"] as const;

const deploymentSchema = z.object({
  id: z.string().min(1),
  artifactName: z.string(),
  uri: z.string(),
  phase: z.enum(phases),
  startedAt: z.string(),
  /** Downloads started for this deployment; an interrupted one is retried a few times. */
  downloads: z.number().int().default(0),
  /** The reboot command ran (the next start is after the reboot). */
  rebooted: z.boolean().default(false),
  final: z.object({
    status: z.enum(finalStatuses),
    /** Upload the log once the status is accepted (failures only). */
    log: z.boolean(),
    statusSent: z.boolean().default(false),
  }).optional(),
});
export type DeploymentRecord = z.infer<typeof deploymentSchema>;

const stateSchema = z.object({
  version: z.literal(1),
  deployment: deploymentSchema.optional(),
});
export type ManagedState = z.infer<typeof stateSchema>;

const FILE = "ota-managed.json";

export function managedStatePath(dataDir: string): string {
  return `${dataDir}/${FILE}`;
}

export async function loadManagedState(dataDir: string): Promise<ManagedState> {
  const path = managedStatePath(dataDir);
  const text = await readTextIfExists(path);
  if (text === undefined) return { version: 1 };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail("STORE_CORRUPT", `${path} is not valid JSON; it was damaged or not written by ota`);
  }
  const parsed = stateSchema.safeParse(value);
  if (!parsed.success) {
    fail("STORE_CORRUPT", `${path} is not ota's daemon state: ${parsed.error.issues[0]?.message}`);
  }
  return parsed.data;
}

export async function saveManagedState(dataDir: string, state: ManagedState): Promise<void> {
  await atomicWriteFile(managedStatePath(dataDir), JSON.stringify(state, null, 2) + "\n");
}
