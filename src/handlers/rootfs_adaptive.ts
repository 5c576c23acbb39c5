/**
 * The rootfs-image handler's Download, the adaptive way: when the artifact's signed header
 * carries a block index and its source serves byte ranges, the running slot is hashed, what
 * it holds is copied, only the other pieces are fetched, and the inactive slot is written
 * from that one stream, checked block by block and as a whole against the manifest, as a
 * full download is. Any doubt (no ranges, an index that does not fit, bytes that do not
 * match, a failed request) ends it, and the caller downloads the whole image instead: the
 * bootloader is never touched here, so nothing is switched to a half-written slot.
 */
import { ADAPTIVE_KEY, type AdaptiveIndex, readAdaptiveIndex } from "../artifact/adaptive_index.ts";
import { compressionSuffix } from "../artifact/compression.ts";
import type { PayloadHeader } from "../artifact/header.ts";
import { payloadFileKey } from "../artifact/manifest.ts";
import { assembleImage } from "../adaptive/assemble.ts";
import { makePlan } from "../adaptive/plan.ts";
import type { ArtifactRanges } from "../adaptive/ranged_source.ts";
import { scanSlot } from "../adaptive/scan.ts";
import { OtaError } from "../errors.ts";
import { collectEvery } from "../platform.ts";
import type { DownloadContext } from "./handler.ts";
import { writePartition } from "./partition_writer.ts";
import { partitionSize, type Slots } from "./partitions.ts";

type SlotPair = Pick<Slots, "active" | "inactive">;

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

/** Why the adaptive way cannot be taken, or undefined when it can. */
function obstacle(
  ctx: DownloadContext,
  index: AdaptiveIndex,
  ranges: ArtifactRanges,
  capacity: number,
): string | undefined {
  const layout = ranges.layout();
  if (!layout) {
    return `${ranges.name} does not serve the artifact by byte ranges (or its head is not one ota reads apart)`;
  }
  const member = `data/0000.tar${compressionSuffix(index.compression)}`;
  if (layout.name !== member || layout.size !== index.dataSize) {
    return `the index describes ${member} of ${index.dataSize} bytes, the artifact holds ${layout.name} of ${layout.size}`;
  }
  if (!ctx.manifest?.get(payloadFileKey(0, index.file))) {
    return `the manifest has no checksum for ${index.file}`;
  }
  if (index.size > capacity) return "the image does not fit the inactive partition";
  return undefined;
}

/**
 * The index is decoded: its text in the header (megabytes for a large image) goes, as a
 * rootfs-image install reads the meta-data for nothing else.
 */
function dropIndexText(payload: PayloadHeader): void {
  const dropped = payload.metaDataBytes?.byteLength ?? 0;
  if (payload.metaData) delete payload.metaData[ADAPTIVE_KEY];
  payload.metaDataBytes = undefined;
  collectEvery(1024 * 1024)(dropped);
}

/** The path the running slot's bytes are read from. */
function activeReadPath(ctx: DownloadContext, slots: SlotPair): string {
  const configured = slots.active.label === "A"
    ? ctx.config.AdaptiveReadPartA
    : ctx.config.AdaptiveReadPartB;
  return configured ?? slots.active.path;
}

/** True when the inactive slot now holds the verified image; false: download it whole. */
export async function downloadAdaptive(
  ctx: DownloadContext,
  slots: SlotPair,
  capacity: number,
): Promise<boolean> {
  const ranges = ctx.ranges;
  if (!ranges || !ctx.config.AdaptiveUpdates) return false;
  const fallBack = (error: unknown) => {
    const code = error instanceof OtaError ? `${error.code}: ` : "";
    ctx.log.warning(
      `Adaptive update not possible: ${code}${
        (error as Error).message
      }; downloading the whole image`,
    );
    ranges.release();
    return false;
  };
  let index: AdaptiveIndex | undefined;
  try {
    index = readAdaptiveIndex(ctx.payload.metaData);
  } catch (error) {
    return fallBack(error);
  }
  if (!index) return false;
  dropIndexText(ctx.payload);
  const why = obstacle(ctx, index, ranges, capacity);
  if (why) return fallBack(new OtaError("ADAPTIVE_UNAVAILABLE", why));
  const layout = ranges.layout()!; // checked by obstacle()
  const sha256 = ctx.manifest!.get(payloadFileKey(0, index.file))!;
  try {
    const activePath = activeReadPath(ctx, slots);
    const limit = Math.min(await partitionSize(activePath), 2 * index.size);
    const started = performance.now();
    const scan = await scanSlot(activePath, index, limit);
    const plan = makePlan(index, scan, layout.offset, layout.fileSize);
    const seconds = () => ((performance.now() - started) / 1000).toFixed(2);
    ctx.log.debug(`Hashed ${mib(scan.scanned)} of ${activePath} and planned in ${seconds()} s`);
    ctx.log.info(
      `Adaptive update: ${mib(plan.reused)} of the ${mib(index.size)} image are on ${activePath} ` +
        `already; fetching ${mib(plan.fetchBytes)} of the ${mib(layout.size)} payload ` +
        `in ${plan.spans.length} request(s)`,
    );
    ranges.begin();
    const { stream, stats } = await assembleImage({
      index,
      plan,
      layout,
      ranges,
      activePath,
      sha256,
      onEvent: (message) => ctx.log.warning(message),
    });
    ctx.log.info(`Writing ${index.file} (${index.size} bytes) to ${slots.inactive.path}`);
    const written = await writePartition(slots.inactive.path, stream, ctx.onBytes);
    ranges.finish();
    ctx.log.debug(`Assembled and wrote the new slot ${seconds()} s after the start`);
    ctx.log.info(
      `Wrote ${written} bytes to ${slots.inactive.path}; checksum verified. Reused ` +
        `${mib(stats.copied)} from the running slot and ${mib(stats.zeros)} of zeros; fetched ` +
        `${mib(ranges.fetched())} in all` +
        (stats.repaired ? `, ${stats.repaired} piece(s) the running slot no longer held` : "") +
        (stats.refetched ? `, ${stats.refetched} piece(s) asked again after a mismatch` : ""),
    );
    return true;
  } catch (error) {
    return fallBack(error);
  }
}
