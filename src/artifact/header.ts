/**
 * The header tar: `header-info`, optional `scripts/*`, then one `headers/NNNN/` bucket per
 * payload with `type-info` and an optional `meta-data`. Parsed only from bytes whose
 * checksum already matched the manifest.
 */
import { asOtaError, fail } from "../errors.ts";
import { readAll, streamOf } from "../streams.ts";
import { requireParseableHeaderInfo, requireParseableTypeInfo } from "./fields.ts";
import { parseJson } from "./json.ts";
import type { ReadLimits } from "./limits.ts";
import { artifactScriptStates, parseScriptName } from "./names.ts";
import {
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
  /**
   * What a header-augment (augment.ts) changed: then `type` is the augment's, `typeInfo` and
   * `metaData` are merged, and the bytes above stay the signed header's.
   */
  augment?: PayloadAugment;
}

export interface PayloadAugment {
  /** The signed header's payload type, which the augment's installer must know how to take. */
  originalType: string;
  /** The augment's own type-info and meta-data, verbatim, for modules' `header-augment/`. */
  typeInfo: TypeInfo;
  typeInfoBytes: Uint8Array;
  metaDataBytes?: Uint8Array;
}

export interface ArtifactScript {
  name: string;
  bytes: Uint8Array;
}

export interface ArtifactHeader {
  info: HeaderInfo;
  infoBytes: Uint8Array;
  /** The header-augment's header-info, verbatim, when the artifact has one. */
  augmentInfoBytes?: Uint8Array;
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
  const reader = readTar(streamOf(tar)); // entries are views of it: no copy
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
export async function readHeaderTar(tar: Uint8Array, limits: ReadLimits, what: string) {
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

export function parseMetaData(bytes: Uint8Array | undefined, index: number, limits: ReadLimits) {
  if (bytes === undefined || bytes.byteLength === 0) return undefined;
  return parseJson(
    bytes,
    metaDataSchema,
    `meta-data of payload ${index}`,
    limits.metaDataBytes,
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
