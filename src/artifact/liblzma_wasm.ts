/**
 * The bytes of liblzma compiled to WebAssembly (from the pinned `node-liblzma` package).
 * Read from node_modules when running from source; `scripts/build.ts` replaces this file
 * with the same bytes inlined, so the compiled binary needs no file beside it.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

export function liblzmaWasm(): Uint8Array {
  const path = createRequire(import.meta.url).resolve("node-liblzma/wasm/liblzma.wasm");
  return readFileSync(path);
}
