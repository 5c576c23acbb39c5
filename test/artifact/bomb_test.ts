/**
 * Decompression bombs without a payload limit: the compiled binary reads gigabytes of zeros
 * that come from a few hundred KiB of xz or zstd, and its memory must stay flat: the peak
 * resident size (GNU time) for the big bomb is about that for a 256 MiB one, and within
 * the reader's budget. Each ends in one CHECKSUM_MISMATCH line (the manifest lists other
 * bytes), so the whole payload is decompressed and hashed.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { BINARY, run, tempDir } from "../helpers/mod.ts";
import { bombArtifact } from "./bomb.ts";

const GiB = 1024 ** 3;

/** Peak resident memory (MiB) of `ota artifact validate` on the artifact, via GNU time -v. */
async function peakMiB(dir: string, name: string, artifact: Uint8Array): Promise<number> {
  const path = `${dir}/${name}.mender`;
  await Deno.writeFile(path, artifact);
  const result = await run(["/usr/bin/time", "-v", BINARY, "artifact", "validate", path]);
  await Deno.remove(path);
  assertEquals(result.code, 1, result.stderr);
  const [line = "", ...report] = result.stderr.split("\n");
  assertMatch(
    line,
    /^ota: payload file rootfs\.img does not match its checksum .*\[CHECKSUM_MISMATCH\]$/,
  );
  assert(!report.some((l) => /^\s+at /.test(l)), result.stderr);
  const kib = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr)?.[1];
  assert(kib, `no report from GNU time:\n${result.stderr}`);
  return Number(kib) / 1024;
}

for (
  const [compression, size, budget] of [
    ["zstd", 4 * GiB, 96],
    ["xz", 2 * GiB, 128],
  ] as const
) {
  Deno.test(`bomb (${compression}): ${size / GiB} GiB of zeros, no limit, memory stays flat`, async () => {
    await using dir = await tempDir("ota-bomb-");
    const small = await peakMiB(
      dir.path,
      "small",
      await bombArtifact(compression, 256 * 1024 ** 2),
    );
    const big = await peakMiB(dir.path, "big", await bombArtifact(compression, size));
    console.log(
      `${compression}: 256 MiB -> ${small.toFixed(0)} MiB peak, ${size / GiB} GiB -> ${
        big.toFixed(0)
      } MiB`,
    );
    assert(
      big < small + 24,
      `the peak grew with the payload: ${small.toFixed(0)} -> ${big.toFixed(0)} MiB`,
    );
    assert(big < budget, `peak ${big.toFixed(0)} MiB, over ${budget} MiB`);
  });
}
