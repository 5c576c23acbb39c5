/**
 * The JSON that `GET /artifacts` answers, as one zod schema: the server builds it, and a
 * peer parses what another device sent with the same schema before trusting any field.
 * The listing only helps to choose; the artifact itself is verified again on install.
 */
import { z } from "zod";
import { dataRecordSchema } from "../artifact/schema.ts";

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const short = z.string().max(1024);

export const artifactMetaSchema = z.object({
  name: short,
  group: short.nullable(),
  deviceTypes: z.array(short).max(256),
  /** artifact_provides of the header and of every payload, merged. */
  provides: dataRecordSchema(short, short),
  /** artifact_depends of the header and of every payload, merged (device types apart). */
  depends: dataRecordSchema(short, z.array(short).max(256)),
  clearsProvides: z.array(short).max(256),
  payloadTypes: z.array(short.nullable()).max(256),
  signed: z.boolean(),
  /** The signature was checked against a key given to `ota serve -k`. */
  signatureVerified: z.boolean(),
  compression: short,
});
export type ArtifactMeta = z.infer<typeof artifactMetaSchema>;

export const listedFileSchema = z.object({
  /** The file's name in the served directory, the last segment of its URL. */
  file: short,
  /** Path of the download, relative to the server. */
  url: short,
  size: z.number().int().nonnegative(),
  modified: short,
  /** SHA-256 of the whole file; the download's ETag is this, quoted. */
  sha256,
  /** The whole artifact was read and every checksum matched. */
  valid: z.boolean(),
  /** Present when valid. */
  artifact: artifactMetaSchema.optional(),
  /** Present when not valid: why. */
  error: z.object({ code: short, message: short }).optional(),
});
export type ListedFile = z.infer<typeof listedFileSchema>;

export const listingSchema = z.object({
  server: z.object({ name: short, version: short }),
  /** Files seen but not listed yet: still changing, or being verified. */
  pending: z.number().int().nonnegative(),
  artifacts: z.array(listedFileSchema).max(10_000),
});
export type Listing = z.infer<typeof listingSchema>;
