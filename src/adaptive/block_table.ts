/**
 * The new image's block hashes, looked up by content: an open-addressing table in one
 * Uint32Array (a hashed block's ordinal + 1; 0 is an empty slot), 6 to 12 bytes per hashed
 * block and no string or object per block. SHA-256 bytes are uniform, so the first four
 * bytes of a hash pick its slot; the hashes themselves stay in the index.
 */
import { type AdaptiveIndex, hashedCount } from "../artifact/adaptive_index.ts";

const slotOf = (h: Uint8Array, at: number) =>
  (h[at]! | h[at + 1]! << 8 | h[at + 2]! << 16 | h[at + 3]! << 24) >>> 0;

export class BlockTable {
  readonly #slots: Uint32Array;
  readonly #mask: number;
  readonly #hashes: Uint8Array;
  readonly #width: number;

  constructor(index: AdaptiveIndex) {
    const n = hashedCount(index);
    let size = 16;
    while (size < n * 1.5) size *= 2;
    this.#slots = new Uint32Array(size);
    this.#mask = size - 1;
    this.#hashes = index.hashes;
    this.#width = index.hashBytes;
    for (let k = 0; k < n; k++) {
      const slot = this.#probe(index.hashes, k * this.#width);
      if (this.#slots[slot] === 0) this.#slots[slot] = k + 1; // else: a repeated block
    }
  }

  /** The slot holding the hash at `hash[at...]`, or the empty slot where it would go. */
  #probe(hash: Uint8Array, at: number): number {
    const hashes = this.#hashes;
    const width = this.#width;
    for (let slot = slotOf(hash, at) & this.#mask;; slot = (slot + 1) & this.#mask) {
      const entry = this.#slots[slot]!;
      if (entry === 0) return slot;
      const start = (entry - 1) * width;
      let i = 0;
      while (i < width && hashes[start + i] === hash[at + i]) i++;
      if (i === width) return slot;
    }
  }

  /**
   * The first hashed block whose hash is the start of `hash` (a block's whole SHA-256, or
   * the index's own hash at `at`), or -1.
   */
  find(hash: Uint8Array, at = 0): number {
    return this.#slots[this.#probe(hash, at)]! - 1;
  }
}
