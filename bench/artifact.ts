/**
 * Artifacts: write, read, validate and verify (signed, RSA) rootfs-image artifacts with ota
 * (dist/ota) and with Debian's mender-artifact 3.9, side by side in the same run, for each
 * compression. The image alternates 1 MiB of random bytes and 1 MiB of zeros (as in the
 * reference measurements of the real tools), so about half of it compresses away.
 *
 *   deno task bench artifact [--sizes 256,1024] [--compressions none,gzip,xz,zstd]
 *                            [--ops write,read,validate,verify] [--xz-write-size 64]
 *
 * Both tools read and validate the same file, written by mender-artifact (by ota for zstd:
 * mender-artifact 3.9 writes no zstd, so zstd rows have ota's figures only). Their xz
 * writers are slow (mender-artifact: about 90 s for 256 MiB, 6 min for 1 GiB, untimed
 * here), so xz writing is timed once, at --xz-write-size MiB only. For the memory on a
 * 4 GiB artifact: --sizes 4096 --compressions none,gzip,zstd --ops validate (an xz one
 * would take half an hour to write).
 */
import { existsSync, rmSync } from "node:fs";
import {
  type Bench,
  type BenchOptions,
  compare,
  flag,
  mustRun as run,
  OTA,
  patternFile,
  type Row,
  version,
} from "./lib.ts";

const REFERENCE = "mender-artifact";

/** The image: alternating 1 MiB random and 1 MiB zero blocks, kept between runs. */
function image(work: string, mib: number): string {
  return patternFile(`${work}/image-${mib}.bin`, mib, 2);
}

function keys(work: string): { private: string; public: string } {
  const pair = { private: `${work}/bench-rsa.key`, public: `${work}/bench-rsa.pub.pem` };
  if (!existsSync(pair.public)) {
    run(["openssl", "genrsa", "-traditional", "-out", pair.private, "3072"]);
    run(["openssl", "rsa", "-in", pair.private, "-pubout", "-out", pair.public]);
  }
  return pair;
}

const flagOf = (c: string) => (c === "xz" ? "lzma" : c);

function writeArgs(img: string, out: string, compression: string, key?: string): string[] {
  return [
    "write",
    "rootfs-image",
    "-f",
    img,
    "-n",
    "bench-1",
    "-t",
    "bench-board",
    "-o",
    out,
    "--compression",
    flagOf(compression),
    "--no-progress",
    ...(key ? ["-k", key] : []),
  ];
}

async function forSize(
  options: BenchOptions,
  mib: number,
  compressions: string[],
  ops: string[],
  xzWriteSize: number,
): Promise<Row[]> {
  const { work, runs, cold } = options;
  const rows: Row[] = [];
  const img = image(work, mib);
  const key = keys(work);
  const ours = `${work}/ota.mender`;
  const theirs = `${work}/reference.mender`;
  const clean = () => [ours, theirs].forEach((p) => rmSync(p, { force: true }));
  for (const c of compressions) {
    const label = `${mib} MiB ${c}`;
    const hasReference = c !== "zstd";
    const writeNow = ops.includes("write") && (c !== "xz" || mib <= xzWriteSize);
    if (writeNow) {
      console.error(`${label}: write`);
      rows.push(
        await compare(
          `${label}: write`,
          [OTA, "artifact", ...writeArgs(img, ours, c)],
          hasReference ? [REFERENCE, ...writeArgs(img, theirs, c)] : null,
          { runs: c === "xz" ? 1 : runs, cold, before: clean },
        ),
      );
    }
    if (!["read", "validate", "verify"].some((op) => ops.includes(op))) continue;
    // One artifact that both tools read, as mender-artifact writes it (an xz one with its
    // 64 MiB dictionary, which sets the decoder's memory).
    const art = `${work}/read-${c}.mender`;
    const signed = `${work}/read-${c}-signed.mender`;
    const writer = hasReference ? [REFERENCE] : [OTA, "artifact"];
    rmSync(art, { force: true });
    run([...writer, ...writeArgs(img, art, c)]);
    for (const op of ["read", "validate"].filter((o) => ops.includes(o))) {
      console.error(`${label}: ${op}`);
      rows.push(
        await compare(
          `${label}: ${op}`,
          [OTA, "artifact", op, ...(op === "read" ? ["--no-progress"] : []), art],
          hasReference ? [REFERENCE, op, art] : null,
          { runs, cold },
        ),
      );
    }
    if (ops.includes("verify") && c === "gzip") {
      console.error(`${label}: verify`);
      rmSync(signed, { force: true });
      run([...writer, ...writeArgs(img, signed, c, key.private)]);
      rows.push(
        await compare(
          `${label}: validate -k (RSA-3072)`,
          [OTA, "artifact", "validate", "-k", key.public, signed],
          [REFERENCE, "validate", "-k", key.public, signed],
          { runs, cold },
        ),
      );
      rmSync(signed, { force: true });
    }
    rmSync(art, { force: true });
  }
  clean();
  return rows;
}

export const bench: Bench = {
  name: "artifact",
  description: `ota vs ${version([REFERENCE, "--version"]) || REFERENCE}: write, read, validate`,
  async run(options) {
    const list = (name: string, fallback: string) => flag(options.args, name, fallback).split(",");
    const sizes = list("sizes", "256,1024").map(Number);
    const compressions = list("compressions", "none,gzip,xz,zstd");
    const ops = list("ops", "write,read,validate,verify");
    const xzWriteSize = Number(flag(options.args, "xz-write-size", "64"));
    const rows: Row[] = [];
    if (ops.includes("write") && compressions.includes("xz") && !sizes.includes(xzWriteSize)) {
      rows.push(...await forSize(options, xzWriteSize, ["xz"], ["write"], xzWriteSize));
    }
    for (const mib of sizes) {
      rows.push(...await forSize(options, mib, compressions, ops, xzWriteSize));
    }
    return rows;
  },
};
