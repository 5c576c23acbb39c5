/**
 * zstd's C library compiled to WebAssembly with Debian's clang and lld, for the runtimes whose
 * node:zlib has no zstd (Node before 22.15: the armv7 executable, ota.js on an older Node).
 *
 * The sources are zstd's lib/ (common, decompress, compress) as the pinned devDependency
 * `zstd-napi` carries them in deps/zstd/lib (its install scripts are off in package.json and
 * none of its own code is used), built freestanding: no libc, no emscripten, the few libc
 * functions zstd needs from scripts/zstd_wasm/. The result goes to
 * .work/zstd-wasm/<checksum>.wasm, the checksum over the sources, the flags and the compiler's
 * version, so an unchanged tree is compiled once; .work/zstd-wasm/zstd.wasm is a copy of the
 * latest, which src/artifact/zstd_wasm_binary.ts reads when ota runs from source.
 *
 *   deno run -A scripts/zstd_wasm.ts     (or bun) builds it if needed and prints its path
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join, relative } from "node:path";
import { pid } from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const GLUE = join(ROOT, "scripts/zstd_wasm");
const OUT_DIR = join(ROOT, ".work/zstd-wasm");
/** The file src/artifact/zstd_wasm_binary.ts reads in source runs. */
export const ZSTD_WASM_LATEST = join(OUT_DIR, "zstd.wasm");

/** What src/artifact/zstd_wasm.ts calls: the streaming API, its errors, and the allocator. */
const EXPORTS = [
  "ZSTD_versionNumber",
  "ZSTD_isError",
  "ZSTD_getErrorCode",
  "ZSTD_getErrorName",
  "ZSTD_createDStream",
  "ZSTD_DCtx_setParameter",
  "ZSTD_decompressStream",
  "ZSTD_DStreamInSize",
  "ZSTD_DStreamOutSize",
  "ZSTD_createCCtx",
  "ZSTD_CCtx_setParameter",
  "ZSTD_compressStream2",
  "ZSTD_CStreamInSize",
  "ZSTD_CStreamOutSize",
  "malloc",
  "free",
];

const CFLAGS = [
  "--target=wasm32",
  // -O2: as fast as -O3 or -O3 -msimd128 here (decoding 256 MiB), and the smallest
  "-O2",
  "-ffreestanding",
  "-nostdlibinc",
  "-fvisibility=hidden",
  // every engine ota runs on (Node >= 20, Bun, Deno) has these; bulk memory turns memcpy and
  // memset into single instructions
  "-mbulk-memory",
  "-msign-ext",
  "-mmutable-globals",
  "-mnontrapping-fptoint",
  "-isystem",
  join(GLUE, "include"),
  "-include",
  join(GLUE, "deps.h"),
  "-DDEBUGLEVEL=0",
  "-DZSTD_DISABLE_ASM", // the x86-64 Huffman decoder
  "-DZSTD_LEGACY_SUPPORT=0", // pre-1.0 formats
  "-DZSTD_HAVE_WEAK_SYMBOLS=0",
  "-DZSTD_TRACE=0",
];

const LDFLAGS = [
  "--no-entry",
  // the embedder makes the memory, and with it the maximum that bounds zstd's allocations
  "--import-memory",
  // 1 MiB at start (src/artifact/zstd_wasm.ts creates the memory with as much)
  "--initial-memory=1048576",
  // the stack below the data: an overflow traps instead of overwriting the heap
  "--stack-first",
  "-z",
  "stack-size=262144",
  "--gc-sections",
  "--strip-all",
  ...EXPORTS.map((name) => `--export=${name}`),
];

function zstdLib(): string {
  const pkg = createRequire(import.meta.url).resolve("zstd-napi/package.json");
  return join(dirname(pkg), "deps/zstd/lib");
}

function files(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(suffix))
    .map((name) => join(dir, name))
    .sort();
}

function toolVersion(tool: string): string {
  const result = spawnSync(tool, ["--version"], { encoding: "utf8" });
  if (result.error || result.status !== 0) {
    throw new Error(
      `${tool} is needed to build zstd's WebAssembly (scripts/install-deps.sh installs clang and lld)`,
    );
  }
  return result.stdout;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.at(-1)} failed with exit code ${code}`));
    });
  });
}

/** Builds the WebAssembly unless a build of the same sources and flags exists; its path. */
export async function buildZstdWasm(): Promise<string> {
  const lib = zstdLib();
  const sources = ["common", "decompress", "compress"]
    .flatMap((part) => files(join(lib, part), ".c"))
    .concat(join(GLUE, "libc.c"));
  const hash = createHash("sha256");
  hash.update(JSON.stringify([CFLAGS, LDFLAGS, toolVersion("clang"), toolVersion("wasm-ld")]));
  for (const file of [...files(lib, ".h"), ...files(GLUE, ".h"), ...sources]) {
    const name = file.startsWith(GLUE) ? relative(ROOT, file) : `zstd/${relative(lib, file)}`;
    hash.update(`${name}\0`);
    hash.update(readFileSync(file));
  }
  const out = join(OUT_DIR, `${hash.digest("hex").slice(0, 16)}.wasm`);
  if (!existsSync(out)) await compile(sources, out);
  const tmp = `${ZSTD_WASM_LATEST}.${pid}.tmp`;
  copyFileSync(out, tmp);
  renameSync(tmp, ZSTD_WASM_LATEST);
  return out;
}

async function compile(sources: string[], out: string): Promise<void> {
  mkdirSync(OUT_DIR, { recursive: true });
  const work = mkdtempSync(join(OUT_DIR, "build-"));
  try {
    const objects = sources.map((_, i) => join(work, `${i}.o`));
    const queue = sources.map((source, i) => [source, objects[i]!] as const);
    // libc.c must stay loops, not calls to the functions it defines
    const flags = (source: string) => source.startsWith(GLUE) ? ["-fno-builtin"] : [];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [source, object] = next;
        await run("clang", [...CFLAGS, ...flags(source), "-c", "-o", object, source]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(availableParallelism(), 4) }, worker));
    const linked = join(work, "zstd.wasm");
    await run("wasm-ld", [...LDFLAGS, "-o", linked, ...objects]);
    renameSync(linked, out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) console.log(await buildZstdWasm());
