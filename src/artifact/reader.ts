/**
 * Reads a Mender Artifact (format v3) in one pass over a byte stream.
 *
 * `openArtifact` returns once the header is verified: version, manifest (and signature, when
 * keys are given) and the header's checksum all checked. Payloads follow lazily, as
 * streams that are hashed while they pass. Nothing of the header is used before its
 * checksum matched, and no payload byte is handed out before the header was verified.
 */
import { fail, OtaError } from "../errors.ts";
import { collectEvery } from "../platform.ts";
import { type ByteStream, drain, readAll, sha256Hex, streamOf } from "../streams.ts";
import { type Compression, decompress, splitCompressedName } from "./compression.ts";
import { applyAugment } from "./augment.ts";
import { type ArtifactHeader, parseHeader, type PayloadHeader } from "./header.ts";
import { parseJson } from "./json.ts";
import { type ReadLimits, withLimits } from "./limits.ts";
import { checkManifestNames, type Manifest, mergeManifests, parseManifest } from "./manifest.ts";
import { type PayloadFile, payloadFiles } from "./payload.ts";
import { versionSchema } from "./schema.ts";
import { type VerifyKey, verifyManifest } from "./signature.ts";
import { readTar, requirePlainFile, type TarEntry, TarFormatError } from "./tar_read.ts";

export interface ReadOptions {
  /** When set, the artifact must be signed by one of these keys. */
  verifyKeys?: VerifyKey[];
  limits?: Partial<ReadLimits>;
}

export interface Payload {
  index: number;
  header: PayloadHeader;
  compression: Compression;
  /** The payload's files in order; each must be read (or is read for you) before the next. */
  files(): AsyncGenerator<PayloadFile>;
}

export interface Artifact {
  version: number;
  manifest: Manifest;
  /** Bytes of the manifest, as signed. */
  manifestBytes: Uint8Array;
  /** The artifact carries a `manifest.sig`. */
  signed: boolean;
  /** The bytes of `manifest.sig`, when it has one. */
  signature?: Uint8Array;
  /** The signature was checked against a configured key (and matched). */
  signatureVerified: boolean;
  augmented: boolean;
  /** The lines of `manifest-augment` (checksummed, not signed), when augmented. */
  augmentManifest?: Manifest;
  /** Compression of the header member (payloads are usually the same). */
  compression: Compression;
  header: ArtifactHeader;
  /** Payloads in order; each must be finished before the next is read. */
  payloads(): AsyncGenerator<Payload>;
  /** Reads and verifies whatever was not read yet, then checks the artifact's end. */
  finish(): Promise<void>;
  /** Stops reading and releases the source. */
  cancel(reason?: unknown): Promise<void>;
}

type Entry = TarEntry;

/** Wraps the outer tar so every failure carries a code and the stream position is known. */
function outerEntries(input: ByteStream) {
  const reader = readTar(input);
  let ended = false;
  return {
    async next(): Promise<Entry | undefined> {
      if (ended) return undefined;
      let entry: Entry | undefined;
      try {
        entry = await reader.next();
      } catch (error) {
        throw outerError(error);
      }
      if (!entry) {
        ended = true;
        return undefined;
      }
      if (entry.header.type !== "file") {
        await entry.body.cancel().catch(() => {});
        requirePlainFile(entry.header, "the artifact");
      }
      return entry;
    },
    cancel: (reason?: unknown) => reader.cancel(reason),
  };
}

function outerError(error: unknown): OtaError {
  if (error instanceof OtaError) return error;
  if (error instanceof TarFormatError && error.truncated) {
    return new OtaError(
      "ARTIFACT_TRUNCATED",
      "the artifact ends early: it is truncated or was cut off in transfer",
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new OtaError("ARTIFACT_CORRUPT", `the artifact is not a valid tar stream (${message})`);
}

function member(entry: Entry | undefined, what: string): Entry {
  if (!entry) fail("ARTIFACT_TRUNCATED", `the artifact ends before its ${what}`);
  return entry;
}

async function readMember(entry: Entry, limit: number, what: string): Promise<Uint8Array> {
  if (entry.header.size > limit) {
    await entry.body.cancel().catch(() => {});
    fail("LIMIT_EXCEEDED", `${what} is ${entry.header.size} bytes, over the limit of ${limit}`);
  }
  return await readAll(entry.body, limit, what).catch((error) => {
    if (error instanceof OtaError) throw error;
    fail("ARTIFACT_TRUNCATED", `the artifact ends inside ${what}`);
  });
}

function unexpected(name: string, expected: string): never {
  fail(
    "ARTIFACT_STRUCTURE",
    `unexpected member ${JSON.stringify(name.slice(0, 200))} where ${expected} should be`,
  );
}

function checkDigest(
  manifest: Manifest,
  name: string,
  bytes: Uint8Array,
  where = "manifest",
): void {
  const expected = manifest.get(name);
  if (!expected) fail("MANIFEST_MISMATCH", `the ${where} has no checksum for ${name}`);
  const actual = sha256Hex(bytes);
  if (actual !== expected) {
    fail(
      "CHECKSUM_MISMATCH",
      `${name} does not match the ${where} (expected ${expected}, got ${actual}); the artifact is corrupt or was tampered with`,
    );
  }
}

/** Decompresses a verified, in-memory header member with a size cap. */
function inflateHeader(
  bytes: Uint8Array,
  compression: Compression,
  limits: ReadLimits,
  what: string,
) {
  const stream = streamOf(bytes);
  return readAll(
    decompress(stream, compression, limits),
    limits.headerBytes,
    `the decompressed ${what}`,
  );
}

/** A header this large (an adaptive index) leaves copies worth collecting at once. */
const collectLarge = (bytes: number) => collectEvery(1024 * 1024)(bytes);

/** The header tar, checked against the manifest, then decompressed. */
async function verifiedHeader(
  entry: Entry,
  manifest: Manifest,
  compression: Compression,
  limits: ReadLimits,
): Promise<Uint8Array> {
  const raw = await readMember(entry, limits.headerBytes, entry.header.name);
  checkDigest(manifest, entry.header.name, raw);
  return await inflateHeader(raw, compression, limits, "header");
}

export async function openArtifact(
  input: ByteStream,
  options: ReadOptions = {},
): Promise<Artifact> {
  const limits = withLimits(options.limits);
  const entries = outerEntries(input);
  try {
    return await openVerified(entries, limits, options.verifyKeys ?? []);
  } catch (error) {
    await entries.cancel(error);
    throw error;
  }
}

async function openVerified(
  entries: ReturnType<typeof outerEntries>,
  limits: ReadLimits,
  keys: VerifyKey[],
): Promise<Artifact> {
  const versionEntry = member(await entries.next(), "version");
  if (versionEntry.header.name !== "version") unexpected(versionEntry.header.name, "version");
  const versionBytes = await readMember(versionEntry, limits.versionBytes, "version");
  const version = parseJson(versionBytes, versionSchema, "version", limits.versionBytes);
  if (version.version !== 3) {
    fail(
      "ARTIFACT_VERSION",
      `artifact format version ${version.version} is not supported; rebuild it with mender-artifact -v 3`,
    );
  }

  const manifestEntry = member(await entries.next(), "manifest");
  if (manifestEntry.header.name !== "manifest") unexpected(manifestEntry.header.name, "manifest");
  const manifestBytes = await readMember(manifestEntry, limits.manifestBytes, "manifest");
  const manifest = parseManifest(manifestBytes, limits.entries, limits.nameLength);

  let next = member(await entries.next(), "header");
  let signed = false;
  let signature: Uint8Array | undefined;
  if (next.header.name === "manifest.sig") {
    signed = true;
    const sig = signature = await readMember(next, limits.signatureBytes, "manifest.sig");
    if (keys.length && !verifyManifest(manifestBytes, sig, keys)) {
      fail(
        "SIGNATURE_INVALID",
        "the artifact's signature does not match any configured key; it was signed with another key or altered",
      );
    }
    next = member(await entries.next(), "header");
  }
  if (keys.length && !signed) {
    fail(
      "SIGNATURE_MISSING",
      "the artifact is not signed, but verification keys are configured; sign it with 'ota artifact sign'",
    );
  }
  checkDigest(manifest, "version", versionBytes);

  let augmentManifest: Manifest | undefined;
  if (next.header.name === "manifest-augment") {
    const bytes = await readMember(next, limits.manifestBytes, "manifest-augment");
    augmentManifest = parseManifest(bytes, limits.entries, limits.nameLength);
    next = member(await entries.next(), "header");
  }

  const split = splitCompressedName(next.header.name);
  if (!split || split.base !== "header.tar") unexpected(next.header.name, "header.tar");
  const compression = split.compression;
  const tar = await verifiedHeader(next, manifest, compression, limits);
  collectLarge(tar.byteLength); // what decompressing it left
  let header = await parseHeader(tar, limits);
  collectLarge(tar.byteLength); // and parsing it (the text of its JSON)

  const members = new Set(["version", next.header.name]);
  let rest = await entries.next();
  if (augmentManifest) {
    const augmentName = `header-augment${next.header.name.slice("header".length)}`;
    if (rest?.header.name !== augmentName) {
      fail(
        "ARTIFACT_STRUCTURE",
        `manifest-augment is present but ${augmentName} does not follow the header`,
      );
    }
    const raw = await readMember(rest, limits.headerBytes, augmentName);
    checkDigest(augmentManifest, augmentName, raw, "manifest-augment");
    members.add(augmentName);
    header = await applyAugment(
      header,
      await inflateHeader(raw, compression, limits, "header-augment"),
      limits,
    );
    rest = await entries.next();
  }
  const fullManifest = augmentManifest ? mergeManifests(manifest, augmentManifest) : manifest;
  checkManifestNames(fullManifest, members, header.payloads.map((p) => p.type));
  if (augmentManifest) checkAugmentedFiles(augmentManifest, header);
  return artifactOver(entries, rest, {
    version: version.version,
    manifest: fullManifest,
    manifestBytes,
    signed,
    signature,
    signatureVerified: signed && keys.length > 0,
    augmented: augmentManifest !== undefined,
    augmentManifest,
    compression,
    header,
  }, limits);
}

type ArtifactInfo = Omit<Artifact, "payloads" | "finish" | "cancel">;

/** Unsigned payload files only for a payload the header-augment augments (as Mender). */
function checkAugmentedFiles(augment: Manifest, header: ArtifactHeader): void {
  for (const name of augment.keys()) {
    const index = /^data\/([0-9]{4})\//.exec(name)?.[1];
    if (index !== undefined && !header.payloads[Number(index)]?.augment) {
      fail(
        "ARTIFACT_STRUCTURE",
        `manifest-augment lists ${name}, but the header-augment does not augment payload ${
          Number(index)
        }`,
      );
    }
  }
}

function artifactOver(
  entries: ReturnType<typeof outerEntries>,
  first: Entry | undefined,
  info: ArtifactInfo,
  limits: ReadLimits,
): Artifact {
  let pending = first;
  let started = false;
  const seen = new Set<string>();

  async function* payloads(): AsyncGenerator<Payload> {
    if (started) fail("READER_MISUSE", "the payloads of an artifact can be read only once");
    started = true;
    for (let index = 0; pending; index++) {
      const entry = pending;
      const split = splitCompressedName(entry.header.name);
      const expectedName = `data/${String(index).padStart(4, "0")}.tar`;
      if (!split || split.base !== expectedName) unexpected(entry.header.name, expectedName);
      if (index >= info.header.payloads.length) {
        fail("ARTIFACT_STRUCTURE", `${entry.header.name} has no payload header`);
      }
      const files = payloadFiles(entry.body, {
        index,
        type: info.header.payloads[index]!.type,
        compression: split.compression,
        manifest: info.manifest,
        augmented: info.augmentManifest,
        limits,
        seen,
      });
      yield {
        index,
        header: info.header.payloads[index]!, // index is in range, checked above
        compression: split.compression,
        files: () => files,
      };
      // Files the consumer did not read are still read and verified.
      for await (const file of files) await drain(file.stream);
      pending = await entries.next();
    }
  }

  async function finish(): Promise<void> {
    if (!started) {
      for await (const payload of payloads()) {
        for await (const _ of payload.files()) { /* read */ }
      }
    }
    if (await entries.next()) {
      fail("ARTIFACT_STRUCTURE", "the artifact has members after its payloads");
    }
    for (const name of info.manifest.keys()) {
      if (name.startsWith("data/") && !seen.has(name)) {
        fail(
          "MANIFEST_MISMATCH",
          `the manifest lists ${name}, but the artifact does not contain it`,
        );
      }
    }
  }

  return {
    ...info,
    payloads,
    finish,
    cancel: (reason?: unknown) => entries.cancel(reason),
  };
}

/** Reads a whole artifact and checks everything; resolves with what was read. */
export async function verifyArtifact(
  input: ByteStream,
  options: ReadOptions = {},
): Promise<ArtifactInfo> {
  const artifact = await openArtifact(input, options);
  await artifact.finish().catch(async (error) => {
    await artifact.cancel(error);
    throw error;
  });
  return artifact;
}
