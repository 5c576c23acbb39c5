/**
 * The JSON documents inside an artifact, as zod schemas: one definition for parsing and
 * for the types. Unknown keys are refused, as mender-artifact's reader refuses them. Which
 * characters the strings may hold is checked apart (fields.ts), to name the field.
 */
import { z } from "zod";
import { dataRecord } from "../records.ts";

/** mender-artifact's length rule for strings in headers: 1 to 256 characters. */
const headerString = z.string().min(1).max(256);

/**
 * A JSON object as a record without prototype, every key kept: zod's own record skips
 * `__proto__`, and a plain object would hide it or answer for keys it does not hold.
 */
export function dataRecordSchema<V extends z.ZodType>(key: z.ZodType<string>, value: V) {
  return z.preprocess(
    (input) =>
      input !== null && typeof input === "object" && !Array.isArray(input)
        ? new Map(Object.entries(input))
        : input,
    z.map(key, value, { error: "must be a JSON object" }),
  ).transform((map) => dataRecord(map));
}

export const versionSchema = z.strictObject({
  format: z.literal("mender"),
  version: z.number().int(),
});
export type VersionInfo = z.infer<typeof versionSchema>;

export const headerInfoSchema = z.strictObject({
  payloads: z.array(z.strictObject({ type: headerString.nullable() })).min(1),
  artifact_provides: z.strictObject({
    artifact_name: headerString,
    artifact_group: headerString.optional(),
  }),
  artifact_depends: z.strictObject({
    device_type: z.array(headerString).min(1),
    artifact_name: z.array(headerString).optional(),
    artifact_group: z.array(headerString).optional(),
  }),
});
export type HeaderInfo = z.infer<typeof headerInfoSchema>;

/** mender-artifact 3.x writes `"type": ""` for rootfs-image; null marks an empty payload. */
export const typeInfoSchema = z.strictObject({
  type: z.string().max(256).nullable().optional(),
  artifact_provides: dataRecordSchema(headerString, z.string().max(256)).optional(),
  artifact_depends: dataRecordSchema(headerString, z.union([z.string(), z.array(z.string())]))
    .optional(),
  clears_artifact_provides: z.array(headerString).optional(),
});
export type TypeInfo = z.infer<typeof typeInfoSchema>;

/** Free-form for modules, but it must be a JSON object (or an empty file). */
export const metaDataSchema = dataRecordSchema(z.string(), z.unknown());
export type MetaData = z.infer<typeof metaDataSchema>;

/**
 * The header-info of a header-augment: mender-artifact repeats the signed provides and
 * depends; a payload type "" keeps the signed type (areader's setInstallers).
 */
export const augmentHeaderInfoSchema = headerInfoSchema.extend({
  payloads: z.array(z.strictObject({ type: z.string().max(256).nullable() })).min(1),
});
