/**
 * Augmented artifacts: `header-augment.tar*` and payload files listed in `manifest-augment`,
 * added after signing (for delta updates). The signature covers the manifest only, so the
 * augment is checksummed (manifest-augment) but unsigned. Parsed only from bytes whose
 * checksum matched manifest-augment, and merged over the signed header by mender-artifact
 * 3.9's rules (areader, handlers/module_image.go), or refused where those would let the
 * unsigned part weaken what the signature vouches for:
 * - header-info: the payload types only ("" keeps the signed type). Its provides and depends,
 *   which mender-artifact copies from the signed header and its reader ignores, must equal
 *   the signed ones (ota: stricter). No augment of an empty payload, none to an empty type,
 *   rootfs-image only over rootfs-image, and none of a payload it does not override.
 * - type-info: provides and depends merged key by key. Mender lets the augment override a
 *   signed key; ota refuses a changed value (AUGMENT_OVERRIDE) and takes only new keys.
 *   `clears_artifact_provides` replaces the signed list in Mender; ota refuses one that
 *   differs (mender-artifact never writes it into an augment).
 * - meta-data: merged deeply as Mender merges it (objects by key; no list holding an object
 *   or list, in either part); a signed value may not change (ota: stricter).
 * - no state scripts (as Mender).
 * Which handler takes the augmented payload, and with what, is the installer's business.
 */
import { fail } from "../errors.ts";
import { dataRecord, mergeRecords, own } from "../records.ts";
import { requireParseableHeaderInfo, requireParseableTypeInfo, visible } from "./fields.ts";
import { type ArtifactHeader, parseMetaData, type PayloadHeader, readHeaderTar } from "./header.ts";
import { parseJson } from "./json.ts";
import type { ReadLimits } from "./limits.ts";
import { augmentHeaderInfoSchema, type MetaData, type TypeInfo, typeInfoSchema } from "./schema.ts";

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function overridden(where: string, key: string, signed: unknown, augment: unknown): never {
  fail(
    "AUGMENT_OVERRIDE",
    `the header-augment changes the signed ${where} ${visible(key)} ` +
      `(${visible(JSON.stringify(signed))} -> ${visible(JSON.stringify(augment))}); ` +
      "the unsigned augment may add to the signed header, never change it",
  );
}

/** Keys of the augment added to the signed record; a signed key may not change. */
function addKeys<T>(
  signed: Record<string, T> | undefined,
  augment: Record<string, T> | undefined,
  where: string,
): Record<string, T> | undefined {
  if (!augment || !Object.keys(augment).length) return signed;
  for (const [key, value] of Object.entries(augment)) {
    const before = signed ? own(signed, key) : undefined;
    if (before !== undefined && !same(before, value)) overridden(where, key, before, value);
  }
  return mergeRecords(signed, augment);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** Mender merges meta-data only when no list in it holds an object or a list. */
function requireFlatLists(value: unknown, path: string): void {
  if (Array.isArray(value)) {
    if (value.some((item) => item !== null && typeof item === "object")) {
      fail(
        "HEADER_INVALID",
        `meta-data ${visible(path)} is a list holding an object or a list, which Mender cannot ` +
          "merge with a header-augment",
      );
    }
  } else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) requireFlatLists(item, `${path}.${key}`);
  }
}

/** The augment's meta-data merged into the signed one, object by object. */
function mergeMetaData(
  signed: Record<string, unknown>,
  augment: Record<string, unknown>,
  path: string,
): Record<string, unknown> {
  const merged = dataRecord(Object.entries(signed));
  for (const [key, value] of Object.entries(augment)) {
    const before = own(signed, key);
    const at = path ? `${path}.${key}` : key;
    if (before === undefined) merged[key] = value;
    else if (isObject(before) && isObject(value)) merged[key] = mergeMetaData(before, value, at);
    else if (!same(before, value)) overridden("meta-data", at, before, value);
  }
  return merged;
}

/** The augment's type-info merged into the signed one (writing checks an augment with it). */
export function mergeAugmentTypeInfo(signed: TypeInfo, augment: TypeInfo): TypeInfo {
  const clears = augment.clears_artifact_provides;
  if (clears !== undefined && !same(clears, signed.clears_artifact_provides)) {
    overridden("type-info", "clears_artifact_provides", signed.clears_artifact_provides, clears);
  }
  const merged: TypeInfo = { ...signed };
  const provides = addKeys(signed.artifact_provides, augment.artifact_provides, "provide");
  const depends = addKeys(signed.artifact_depends, augment.artifact_depends, "depend");
  if (provides) merged.artifact_provides = provides;
  if (depends) merged.artifact_depends = depends;
  return merged;
}

/** The augment's meta-data merged into the signed one, as far as Mender can merge them. */
export function mergeAugmentMetaData(
  signed: Record<string, unknown> | undefined,
  augment: Record<string, unknown>,
): MetaData {
  requireFlatLists(signed ?? {}, "");
  requireFlatLists(augment, "");
  return mergeMetaData(signed ?? dataRecord(), augment, "") as MetaData;
}

function augmentedPayload(
  payload: PayloadHeader,
  type: string,
  bucket: { typeInfoBytes?: Uint8Array; metaDataBytes?: Uint8Array } | undefined,
  limits: ReadLimits,
): PayloadHeader {
  const where = `augmented type-info of payload ${payload.index}`;
  if (!bucket?.typeInfoBytes) fail("HEADER_INVALID", `the header-augment has no ${where}`);
  const typeInfo = parseJson(
    bucket.typeInfoBytes,
    typeInfoSchema,
    where,
    limits.jsonBytes,
    limits.jsonDepth,
  );
  requireParseableTypeInfo(typeInfo, where);
  const meta = parseMetaData(bucket.metaDataBytes, payload.index, limits);
  return {
    ...payload,
    type,
    typeInfo: mergeAugmentTypeInfo(payload.typeInfo, typeInfo),
    metaData: meta ? mergeAugmentMetaData(payload.metaData, meta) : payload.metaData,
    augment: {
      originalType: payload.type!, // an empty payload was refused before
      typeInfo,
      typeInfoBytes: bucket.typeInfoBytes,
      metaDataBytes: bucket.metaDataBytes,
    },
  };
}

/** The signed header with a verified header-augment merged over it. */
export async function applyAugment(
  header: ArtifactHeader,
  tar: Uint8Array,
  limits: ReadLimits,
): Promise<ArtifactHeader> {
  const augment = await readHeaderTar(tar, limits, "header-augment");
  if (augment.scripts.length) {
    fail("HEADER_INVALID", "a header-augment must not carry state scripts");
  }
  const where = "augmented header-info";
  const info = parseJson(
    augment.infoBytes,
    augmentHeaderInfoSchema,
    where,
    limits.jsonBytes,
    limits.jsonDepth,
  );
  requireParseableHeaderInfo(info, where);
  for (const field of ["artifact_provides", "artifact_depends"] as const) {
    if (!same(info[field], header.info[field])) {
      overridden("header-info", field, header.info[field], info[field]);
    }
  }
  if (
    info.payloads.length !== header.payloads.length ||
    augment.buckets.length > header.payloads.length
  ) {
    fail("HEADER_INVALID", "the header-augment does not describe the same payloads as the header");
  }
  const payloads = header.payloads.map((payload, index): PayloadHeader => {
    const type = info.payloads[index]!.type; // as many as the header's, checked above
    const bucket = augment.buckets[index];
    if (payload.type === null) fail("HEADER_INVALID", "an empty payload cannot be augmented");
    if (type === null) fail("HEADER_INVALID", "a header-augment cannot empty a payload");
    if (type === "rootfs-image" && payload.type !== "rootfs-image") {
      fail("HEADER_INVALID", `a ${payload.type} payload cannot be augmented into a rootfs-image`);
    }
    if (type !== "") return augmentedPayload(payload, type, bucket, limits);
    if (bucket) {
      fail("HEADER_INVALID", `the header-augment describes payload ${index}, which it keeps`);
    }
    return payload;
  });
  return { ...header, augmentInfoBytes: augment.infoBytes, payloads };
}
