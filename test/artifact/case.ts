/** The shape of one robustness case, shared by the case tables and the tests running them. */
import type { Keys } from "./seeds.ts";

export interface BadCase {
  name: string;
  bytes: Uint8Array;
  /** The one error code the reader must give. */
  code: string;
  /**
   * Where the reader must stop. "open": openArtifact itself rejects, so no payload (not a
   * byte of it) is ever handed out. "payload": the header verified; the error comes while
   * the payload is read (or when the artifact's end is checked). "either": the damage lies
   * after the header (a cut, trailing garbage), which the reader may already notice while
   * opening when the whole input is at hand, or later.
   */
  phase: "open" | "payload" | "either";
  /** Keys the artifact must be signed with (`-k`). */
  verify?: Keys[];
  /** Largest payload file accepted (`--max-payload-size`). */
  maxPayload?: number;
  /** A payload file size the reader must report before the file's body is read. */
  declaredSize?: number;
  /**
   * Check through the compiled binary only: Deno's node:zlib (not the runtime ota ships on)
   * throws some zstd errors from a timer instead of the stream, which would crash the test.
   */
  binaryOnly?: boolean;
  /**
   * What the real `mender-artifact validate` (3.9) does with the same bytes, checked when
   * given: "accepts" marks where ota is stricter on purpose, "refuses" where both refuse.
   */
  mender?: "accepts" | "refuses";
}

export interface GoodCase {
  name: string;
  bytes: Uint8Array;
  verify?: Keys[];
  /** Payload files expected, in order: name and exact content. */
  files: { name: string; body: Uint8Array }[];
}
