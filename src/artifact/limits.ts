/**
 * Every input limit of the artifact reader, in one place. Real artifacts are far below
 * these; anything above them is refused before it can cost memory or time.
 */
export interface ReadLimits {
  /** The `version` member. */
  versionBytes: number;
  /** The `manifest` and `manifest-augment` members. */
  manifestBytes: number;
  /** The `manifest.sig` member (base64). */
  signatureBytes: number;
  /** A compressed header member, and the header tar after decompression. */
  headerBytes: number;
  /** One JSON document inside the header (header-info, type-info). */
  jsonBytes: number;
  /**
   * A payload's meta-data, which may hold an adaptive artifact's block index (16 bytes of
   * hash per 4 KiB block of data in base64: about 5.3 MiB per GiB): bounded by the header.
   */
  metaDataBytes: number;
  /**
   * Nesting of arrays and objects in one of those documents. Meta-data goes verbatim to
   * Update Modules, whose JSON parsers may recurse (Python's stops near 1000 levels), and
   * `ota artifact read` prints it.
   */
  jsonDepth: number;
  /** One state script inside the header. */
  scriptBytes: number;
  /** Entries in the header tar, lines in a manifest, files in a payload. */
  entries: number;
  /** A member or file name. */
  nameLength: number;
  /** One payload file after decompression. */
  payloadBytes: number;
  /** Memory the xz decoder may use (bounds the dictionary size). */
  xzMemlimit: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const defaultLimits: ReadLimits = {
  versionBytes: 4 * KiB,
  manifestBytes: 1 * MiB,
  signatureBytes: 16 * KiB,
  headerBytes: 16 * MiB,
  jsonBytes: 1 * MiB,
  metaDataBytes: 16 * MiB,
  jsonDepth: 64,
  scriptBytes: 4 * MiB,
  entries: 1024,
  nameLength: 255,
  payloadBytes: Number.MAX_SAFE_INTEGER,
  xzMemlimit: 72 * MiB,
};

export function withLimits(overrides: Partial<ReadLimits> = {}): ReadLimits {
  return { ...defaultLimits, ...overrides };
}
