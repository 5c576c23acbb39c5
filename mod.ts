/**
 * ota as a library: read, write, verify and sign Mender Artifacts.
 * @module
 */
export { openArtifact, verifyArtifact } from "./src/artifact/reader.ts";
export type { Artifact, Payload, ReadOptions } from "./src/artifact/reader.ts";
export type { PayloadFile } from "./src/artifact/payload.ts";
export type { ArtifactHeader, ArtifactScript, PayloadHeader } from "./src/artifact/header.ts";
export { writeArtifact } from "./src/artifact/writer.ts";
export type { ArtifactSpec, FileSource, PayloadSpec, WriteOptions } from "./src/artifact/writer.ts";
export { signArtifact } from "./src/artifact/sign.ts";
export {
  parseSigningKey,
  parseVerifyKey,
  signManifest,
  verifyManifest,
} from "./src/artifact/signature.ts";
export { compress, compressions, decompress } from "./src/artifact/compression.ts";
export type { Compression } from "./src/artifact/compression.ts";
export { defaultLimits } from "./src/artifact/limits.ts";
export type { ReadLimits } from "./src/artifact/limits.ts";
export { ExitCode, OtaError } from "./src/errors.ts";
