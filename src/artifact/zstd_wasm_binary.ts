/**
 * The bytes of zstd compiled to WebAssembly (scripts/zstd_wasm.ts). Read from .work when
 * running from source (the tests build it first); `scripts/build.ts` replaces this file with
 * the same bytes inlined in the Node builds, whose node:zlib may lack zstd, and with nothing in
 * the Bun ones, whose node:zlib has it.
 */
import { readFileSync } from "node:fs";
import { fail } from "../errors.ts";

export function zstdWasmBinary(): Uint8Array {
  const url = new URL("../../.work/zstd-wasm/zstd.wasm", import.meta.url);
  try {
    return readFileSync(url);
  } catch {
    return fail(
      "ZSTD_UNAVAILABLE",
      "zstd's WebAssembly is not built: run `deno run -A scripts/zstd_wasm.ts` (or `deno task build`)",
    );
  }
}
