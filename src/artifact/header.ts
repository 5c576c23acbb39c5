/**
 * The header tar: `header-info`, optional `scripts/*`, then one `headers/NNNN/` bucket per
 * payload with `type-info` and an optional `meta-data`. Parsed only from bytes whose
 * checksum already matched the manifest.
 */
import { asOtaError, fail } from "../errors.ts";
import { mergeRecords } from "../records.ts";
import { readAll } from "../streams.ts";
import { requireParseableHeaderInfo, requireParseableTypeInfo } from "./fields.ts";
import { parseJson } from "./json.ts";
import type { ReadLimits } from "./limits.ts";
import { artifactScriptStates, parseScriptName } from "./names.ts";
import {
  augmentHeaderInfoSchema,
  type HeaderInfo,
  headerInfoSchema,
  type MetaData,
  metaDataSchema,
  type TypeInfo,
  typeInfoSchema,
} from "./schema.ts";
import { readTar, requirePlainFile, type TarEntry } from "./tar_read.ts";

export interface PayloadHeader {
  index: number;
  /** From header-info, which is authoritative: `rootfs-image`, a module name, or null (empty). */
  type: string | null;
  typeInfo: TypeInfo;
  /** The verbatim bytes, handed to Update Modules as they came. */
  typeInfoBytes: Uint8Array;
  metaData?: MetaData;
  metaDataBytes?: Uint8Array;
}

export interface ArtifactScript {
  name: string;
  bytes: Uint8Array;
}

export interface ArtifactHeader {
  info: HeaderInfo;
  infoBytes: Uint8Array;
  payloads: PayloadHeader[];
  scripts: ArtifactScript[];
}

interface Bucket {
  typeInfoBytes?: Uint8Array;
  metaDataBytes?: Uint8Array;
}

const bucketMember = /^headers\/([0-9]{4})\/(type-info|meta-data)$/;

/** The entries of a header tar with their bytes, one at a time; every failure is coded. */
async function* headerEntries(tar: Uint8Array, limits: ReadLimits, what: string) {
  const reader = readTar(new Blob([tar as BlobPart]).stream());
  const coded = (error: unknown) =>
    asOtaError(error, "HEADER_INVALID", `the ${what} tar is corrupt`);
  try {
    for (let count = 1;; count++) {
      const entry: TarEntry | undefined = await reader.next().catch((error) => {
        throw coded(error);
      });
      if (!entry) return;
      if (count > limits.entries) {
        fail("LIMIT_EXCEEDED", `the ${what} has more than ${limits.entries} entries`);
      }
      if (entry.header.type !== "file") {
        // Whatever it is, it is refused or skipped, never read.
        await entry.body.cancel();
        yield { header: entry.header, data: new Uint8Array() };
        continue;
      }
      const data = await readAll(entry.body, limits.headerBytes, `the ${what}`).catch((error) => {
        throw coded(error);
      });
      yield { header: entry.header, data };
    }
  } finally {
    await reader.cancel();
  }
}

/** Reads the members of a header (or header-augment) tar, enforcing Mender's order. */
async function readHeaderTar(tar: Uint8Array, limits: ReadLimits, what: string) {
  let infoBytes: Uint8Array | undefined;
  const scripts: ArtifactScript[] = [];
  const buckets: Bucket[] = [];
  for await (const { header, data } of headerEntries(tar, limits, what)) {
    const name = header.name.replace(/^\.\//, "");
    if (header.type === "directory" && ["scripts/", "headers/"].some((d) => name.startsWith(d))) {
      continue;
    }
    requirePlainFile(header, `the ${what}`);
    if (name === "header-info") {
      if (infoBytes || scripts.length || buckets.length) {
        fail("HEADER_INVALID", `header-info must come first in the ${what}, and once`);
      }
      infoBytes = data;
      continue;
    }
    if (!infoBytes) fail("HEADER_INVALID", `the ${what} does not start with header-info`);
    if (name.startsWith("scripts/")) {
      scripts.push(checkScript(name.slice("scripts/".length), data, buckets.length > 0, limits));
      continue;
    }
    const match = bucketMember.exec(name);
    if (!match) {
      fail("HEADER_INVALID", `the ${what} holds an unexpected entry: ${name.slice(0, 200)}`);
    }
    addToBucket(buckets, Number(match[1]), match[2]!, data, what); // both groups are mandatory
  }
  if (!infoBytes) fail("HEADER_INVALID", `the ${what} has no header-info`);
  return { infoBytes, scripts, buckets };
}

function checkScript(
  name: string,
  bytes: Uint8Array,
  late: boolean,
  limits: ReadLimits,
): ArtifactScript {
  const parsed = parseScriptName(name);
  if (!parsed || !(artifactScriptStates as readonly string[]).includes(parsed.state)) {
    fail(
      "UNSAFE_NAME",
      `state script ${
        JSON.stringify(name.slice(0, 200))
      } is not named <ArtifactState>_<Enter|Leave|Error>_NN[_text]`,
    );
  }
  if (name.length > limits.nameLength) {
    fail(
      "LIMIT_EXCEEDED",
      `state script ${
        name.slice(0, 60)
      }... has a name of ${name.length} characters, over the limit of ${limits.nameLength}`,
    );
  }
  if (late) fail("HEADER_INVALID", `state script ${name} comes after the payload headers`);
  if (bytes.byteLength > limits.scriptBytes) {
    fail("LIMIT_EXCEEDED", `state script ${name} is larger than ${limits.scriptBytes} bytes`);
  }
  return { name, bytes };
}

function addToBucket(
  buckets: Bucket[],
  index: number,
  kind: string,
  data: Uint8Array,
  what: string,
) {
  if (index !== buckets.length - 1 && index !== buckets.length) {
    fail("HEADER_INVALID", `the ${what} has payload header ${index} out of sequence`);
  }
  if (kind === "type-info") {
    if (index !== buckets.length) {
      fail("HEADER_INVALID", `payload ${index} has two type-info files`);
    }
    buckets.push({ typeInfoBytes: data });
    return;
  }
  const bucket = buckets[index];
  if (!bucket) fail("HEADER_INVALID", `meta-data of payload ${index} comes before its type-info`);
  if (bucket.metaDataBytes) fail("HEADER_INVALID", `payload ${index} has two meta-data files`);
  bucket.metaDataBytes = data;
}

function parseMetaData(bytes: Uint8Array | undefined, index: number, limits: ReadLimits) {
  if (bytes === undefined || bytes.byteLength === 0) return undefined;
  return parseJson(
    bytes,
    metaDataSchema,
    `meta-data of payload ${index}`,
    limits.jsonBytes,
    limits.jsonDepth,
  );
}

/** Parses and checks a verified header tar. */
export async function parseHeader(tar: Uint8Array, limits: ReadLimits): Promise<ArtifactHeader> {
  const { infoBytes, scripts, buckets } = await readHeaderTar(tar, limits, "header");
  const info = parseJson(
    infoBytes,
    headerInfoSchema,
    "header-info",
    limits.jsonBytes,
    limits.jsonDepth,
  );
  requireParseableHeaderInfo(info, "header-info");
  if (buckets.length !== info.payloads.length) {
    fail(
      "HEADER_INVALID",
      `header-info lists ${info.payloads.length} payload(s) but the header has ${buckets.length}`,
    );
  }
  if (info.payloads.length > 1) {
    fail(
      "HEADER_INVALID",
      "artifacts with more than one payload are not supported (nor by Mender)",
    );
  }
  const payloads = buckets.map((bucket, index): PayloadHeader => {
    const typeInfoBytes = bucket.typeInfoBytes!;
    const typeInfo = parseJson(
      typeInfoBytes,
      typeInfoSchema,
      `type-info of payload ${index}`,
      limits.jsonBytes,
      limits.jsonDepth,
    );
    requireParseableTypeInfo(typeInfo, `type-info of payload ${index}`);
    const type = info.payloads[index]!.type; // as many payloads as buckets, checked above
    if (type === null && bucket.metaDataBytes !== undefined) {
      fail("HEADER_INVALID", "an empty payload must not carry meta-data");
    }
    return {
      index,
      type,
      typeInfo,
      typeInfoBytes,
      metaData: parseMetaData(bucket.metaDataBytes, index, limits),
      metaDataBytes: bucket.metaDataBytes,
    };
  });
  return { info, infoBytes, payloads, scripts };
}

/**
 * Merges a verified header-augment over the header: it may change payload types, the
 * type-info fields and meta-data keys (these members are not covered by the signature,
 * which is why Mender lets augments carry only this much).
 */
export async function applyAugment(
  header: ArtifactHeader,
  tar: Uint8Array,
  limits: ReadLimits,
): Promise<ArtifactHeader> {
  const augment = await readHeaderTar(tar, limits, "header-augment");
  if (augment.scripts.length) {
    fail("HEADER_INVALID", "a header-augment must not carry state scripts");
  }
  const info = parseJson(
    augment.infoBytes,
    augmentHeaderInfoSchema,
    "augmented header-info",
    limits.jsonBytes,
    limits.jsonDepth,
  );
  requireParseableHeaderInfo(info, "augmented header-info");
  if (
    info.payloads.length !== header.payloads.length ||
    augment.buckets.length > header.payloads.length
  ) {
    fail("HEADER_INVALID", "the header-augment does not describe the same payloads as the header");
  }
  const payloads = header.payloads.map((payload, index): PayloadHeader => {
    const bucket = augment.buckets[index];
    const extra = bucket?.typeInfoBytes
      ? parseJson(
        bucket.typeInfoBytes,
        typeInfoSchema,
        `augmented type-info of payload ${index}`,
        limits.jsonBytes,
        limits.jsonDepth,
      )
      : {};
    requireParseableTypeInfo(extra, `augmented type-info of payload ${index}`);
    const extraMeta = parseMetaData(bucket?.metaDataBytes, index, limits);
    return {
      ...payload,
      type: info.payloads[index]!.type, // the same count as the header, checked above
      typeInfo: {
        ...payload.typeInfo,
        ...extra,
        artifact_provides: mergeRecords(
          payload.typeInfo.artifact_provides,
          extra.artifact_provides,
        ),
        artifact_depends: mergeRecords(payload.typeInfo.artifact_depends, extra.artifact_depends),
      },
      metaData: extraMeta ? mergeRecords(payload.metaData, extraMeta) : payload.metaData,
    };
  });
  return { ...header, info: { ...header.info, payloads: info.payloads }, payloads };
}
