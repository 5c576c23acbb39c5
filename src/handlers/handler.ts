/**
 * One interface for every payload type, so the update steps never ask which kind they
 * drive: the built-in rootfs-image handler and Update Modules both answer these calls,
 * named after Mender's v3 module states.
 */
import type { ArtifactRanges } from "../adaptive/ranged_source.ts";
import type { ArtifactHeader, PayloadHeader } from "../artifact/header.ts";
import type { Manifest } from "../artifact/manifest.ts";
import type { PayloadFile } from "../artifact/payload.ts";
import type { Config, Paths } from "../device/config.ts";
import type { UpdateRecord } from "../device/store.ts";
import type { Logger } from "../log.ts";

export type RebootAnswer = "No" | "Yes" | "Automatic";

export interface HandlerContext {
  config: Config;
  paths: Paths;
  log: Logger;
  record: UpdateRecord;
  payloadIndex: number;
  /** Current artifact name and device type, as modules see them. */
  current: { artifactName: string; artifactGroup?: string; deviceType: string };
  /** Reports streamed payload bytes (for progress). */
  onBytes?: (bytes: number) => void;
}

export interface DownloadContext extends HandlerContext {
  header: ArtifactHeader;
  payload: PayloadHeader;
  /** Verbatim header-info bytes, for modules' `header/header-info`. */
  headerInfoBytes: Uint8Array;
  /** The verified manifest. */
  manifest?: Manifest;
  /** Byte ranges of the same artifact, when its source serves them (adaptive rootfs-image). */
  ranges?: ArtifactRanges;
}

export interface PayloadHandler {
  readonly type: string;
  /**
   * Takes the payload files and stores them inactive. Resolves only after every file's
   * stream closed, i.e. after its checksum matched.
   */
  download(files: AsyncIterable<PayloadFile>, ctx: DownloadContext): Promise<void>;
  install(ctx: HandlerContext): Promise<void>;
  needsReboot(ctx: HandlerContext): Promise<RebootAnswer>;
  supportsRollback(ctx: HandlerContext): Promise<boolean>;
  reboot(ctx: HandlerContext): Promise<void>;
  verifyReboot(ctx: HandlerContext): Promise<void>;
  commit(ctx: HandlerContext): Promise<void>;
  rollback(ctx: HandlerContext): Promise<void>;
  rollbackReboot(ctx: HandlerContext): Promise<void>;
  verifyRollbackReboot(ctx: HandlerContext): Promise<void>;
  failure(ctx: HandlerContext): Promise<void>;
  cleanup(ctx: HandlerContext): Promise<void>;
}
