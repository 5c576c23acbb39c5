/**
 * The JSON documents inside an artifact, as shapes (shape.ts): one definition for checking
 * and for the types. Unknown keys are refused, as mender-artifact's reader refuses them. Which
 * characters the strings may hold is checked apart (fields.ts), to name the field.
 */
import {
  array,
  either,
  type Infer,
  integer,
  literal,
  nullable,
  optional,
  record,
  strictObject,
  string,
  unknown,
} from "./shape.ts";

/** mender-artifact's length rule for strings in headers: 1 to 256 characters. */
const headerString = () => string({ min: 1, max: 256 });

export const versionSchema = strictObject({
  format: literal("mender"),
  version: integer(),
});
export type VersionInfo = Infer<typeof versionSchema>;

const headerInfoFields = {
  payloads: array(strictObject({ type: nullable(headerString()) }), { min: 1 }),
  artifact_provides: strictObject({
    artifact_name: headerString(),
    artifact_group: optional(headerString()),
  }),
  artifact_depends: strictObject({
    device_type: array(headerString(), { min: 1 }),
    artifact_name: optional(array(headerString())),
    artifact_group: optional(array(headerString())),
  }),
};
export const headerInfoSchema = strictObject(headerInfoFields);
export type HeaderInfo = Infer<typeof headerInfoSchema>;

/** mender-artifact 3.x writes `"type": ""` for rootfs-image; null marks an empty payload. */
export const typeInfoSchema = strictObject({
  type: optional(nullable(string({ max: 256 }))),
  artifact_provides: optional(record(headerString(), string({ max: 256 }))),
  artifact_depends: optional(record(headerString(), either(string(), array(string())))),
  clears_artifact_provides: optional(array(headerString())),
});
export type TypeInfo = Infer<typeof typeInfoSchema>;

/** Free-form for modules, but it must be a JSON object (or an empty file). */
export const metaDataSchema = record(string(), unknown());
export type MetaData = Infer<typeof metaDataSchema>;

/**
 * The header-info of a header-augment: mender-artifact repeats the signed provides and
 * depends; a payload type "" keeps the signed type (areader's setInstallers).
 */
export const augmentHeaderInfoSchema = strictObject({
  ...headerInfoFields,
  payloads: array(strictObject({ type: nullable(string({ max: 256 })) }), { min: 1 }),
});
