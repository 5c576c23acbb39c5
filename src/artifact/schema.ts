/**
 * The JSON documents inside an artifact, as zod schemas: one definition for parsing and
 * for the types. Unknown keys are refused, as mender-artifact's reader refuses them.
 */
import { z } from "zod";

/** mender-artifact's rule for strings in headers: at most 256 printable characters. */
const headerString = z.string().min(1).max(256).regex(
  /^[^\p{Cc}\p{Cs}]*$/u,
  "must contain only printable characters",
);

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
  artifact_provides: z.record(headerString, z.string().max(256)).optional(),
  artifact_depends: z.record(headerString, z.union([z.string(), z.array(z.string())])).optional(),
  clears_artifact_provides: z.array(headerString).optional(),
});
export type TypeInfo = z.infer<typeof typeInfoSchema>;

/** Free-form for modules, but it must be a JSON object (or an empty file). */
export const metaDataSchema = z.record(z.string(), z.unknown());
export type MetaData = z.infer<typeof metaDataSchema>;

/**
 * mender-artifact repeats provides and depends in the augment's header-info; only the
 * payload types are taken from it (the rest is unsigned and must not change what was signed).
 */
export const augmentHeaderInfoSchema = headerInfoSchema.partial().required({ payloads: true });
