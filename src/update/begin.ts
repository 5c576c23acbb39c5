/**
 * A new update, from a source to the machine's first state. The device's identity and the
 * verification keys are read first; the source is opened (a path, a URL, a peer, a
 * deployment's URL); the artifact's header is verified as it streams; it must fit the device
 * and have a handler (a missing Update Module fails here, before anything changes); only then
 * does the machine start at Download.
 */
import { openArtifact } from "../artifact/reader.ts";
import { readIdentity, readInstalled } from "../device/identity.ts";
import { requireCompatible } from "../device/provides.ts";
import type { UpdateRecord } from "../device/store.ts";
import { fail } from "../errors.ts";
import { counting } from "../streams.ts";
import type { Engine } from "./context.ts";
import { reading } from "./download.ts";
import { openRun, type RunOptions, type RunResult, walkFrom } from "./driver.ts";
import type { Host, Run } from "./machine.ts";
import { verifyKeys } from "./keys.ts";
import type { Source } from "./source.ts";

export interface UpdateRequest {
  /** Opens the artifact's bytes, after the device was read. */
  open(): Promise<Source>;
  /** The deployment's id in managed mode; a new one otherwise. */
  id?: string;
  /** The name a server announced: when it is installed already, no state is entered. */
  artifactName?: string;
}

export async function beginUpdate(
  engine: Engine,
  host: Host,
  request: UpdateRequest,
  options: RunOptions = {},
): Promise<RunResult | "already-installed"> {
  const store = await engine.load();
  if (store.update) {
    fail(
      "UPDATE_IN_PROGRESS",
      `update ${store.update.headerInfo.artifact_provides.artifact_name} is already in progress (${store.update.state}); commit or roll it back first`,
    );
  }
  if (
    request.artifactName !== undefined &&
    request.artifactName === (await readInstalled(engine.paths)).artifactName
  ) {
    await host.status?.("already-installed");
    return "already-installed";
  }
  const device = await readIdentity(engine.paths);
  const keys = await verifyKeys(engine.config);
  const source = await request.open();
  engine.log.info(
    `Installing artifact from ${source.name}${source.size ? ` (${source.size} bytes)` : ""}`,
  );
  engine.progress.step("download", source.size ?? 0);
  const artifact = await openArtifact(
    counting(source.stream, (n) => engine.progress.update(n)),
    { verifyKeys: keys },
  );
  const read = reading(artifact, engine.progress, source.ranges);
  let record: UpdateRecord;
  let run: Run;
  try {
    requireCompatible(artifact.header, device);
    const payload = artifact.header.payloads[0];
    if (artifact.header.payloads.length !== 1 || !payload) {
      fail("ARTIFACT_STRUCTURE", "the artifact has no payload");
    }
    await engine.handlerFor(payload.type);
    store.update = record = {
      id: request.id ?? crypto.randomUUID(),
      state: "Download_Enter",
      startedAt: new Date().toISOString(),
      source: source.name,
      headerInfo: artifact.header.info,
      payloads: artifact.header.payloads.map((p) => ({ type: p.type, typeInfo: p.typeInfo })),
      failed: false,
    };
    run = await openRun(engine, host, store, read);
  } catch (error) {
    await read.close(error);
    throw error;
  }
  engine.log.info(`Update ${record.id}: ${record.headerInfo.artifact_provides.artifact_name}`);
  return await walkFrom(run, "Download", options);
}
