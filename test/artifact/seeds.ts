/**
 * Well-formed artifacts to break: written by Debian's real `mender-artifact` 3.9 (gzip, xz,
 * none, signed with RSA and ECDSA, a module-image with two files and meta-data, a version 2
 * artifact, a bootstrap and an augmented one) and by ota itself (zstd, which mender-artifact 3.9 cannot write).
 */
import { type KeyObject } from "node:crypto";
import { parseSigningKey, parseVerifyKey } from "../../src/artifact/signature.ts";
import { ecKey, type KeyPair, rsaKey } from "../helpers/keys.ts";
import { ota, pseudoRandomBytes, sh } from "../helpers/mod.ts";

export interface Keys {
  pair: KeyPair;
  signing: KeyObject;
  verify: KeyObject;
}

export interface Seeds {
  dir: string;
  /** The rootfs image inside every rootfs-image seed. */
  image: Uint8Array;
  keys: { rsa: Keys; ec: Keys; other: Keys };
  /** mender-artifact, gzip, a state script, signed with `keys.rsa`. */
  gzipSigned: Uint8Array;
  /** mender-artifact, gzip, signed with `keys.ec`. */
  gzipEc: Uint8Array;
  /** mender-artifact, unsigned. */
  gzip: Uint8Array;
  xz: Uint8Array;
  none: Uint8Array;
  /** ota, zstd, unsigned. */
  zstd: Uint8Array;
  /** mender-artifact module-image: files f1.txt and f2.bin, meta-data. */
  module: Uint8Array;
  /** mender-artifact `-v 2`. */
  v2: Uint8Array;
  /** mender-artifact bootstrap-artifact (an empty payload). */
  bootstrap: Uint8Array;
  /** mender-artifact module-image augmented with f2.bin (manifest-augment, header-augment). */
  augmented: Uint8Array;
  /**
   * mender-artifact, signed with `keys.rsa`: type app-orig, f1.txt, provides app.v:1, depends
   * dep.k:dv, meta-data {"a":1,"b":{"c":2}}; augmented as app with f2.bin, provides
   * app.delta:yes, depends delta.base:b1 and meta-data {"b":{"d":3}}.
   */
  augmentedSigned: Uint8Array;
}

async function keys(make: () => Promise<KeyPair>): Promise<Keys> {
  const pair = await make();
  return {
    pair,
    signing: parseSigningKey(await Deno.readTextFile(pair.private)),
    verify: parseVerifyKey(await Deno.readTextFile(pair.public)),
  };
}

/** Makes the seeds in a fresh directory; the caller removes `dir`. */
export async function makeSeeds(): Promise<Seeds> {
  const dir = await Deno.makeTempDir({ prefix: "ota-seeds-" });
  const image = new Uint8Array(96 * 1024);
  image.set(pseudoRandomBytes(40 * 1024, 11));
  await Deno.writeFile(`${dir}/rootfs.img`, image);
  await Deno.writeTextFile(`${dir}/ArtifactInstall_Enter_00_check`, "#!/bin/sh\nexit 0\n");
  await Deno.writeTextFile(`${dir}/f1.txt`, "hello\n");
  await Deno.writeFile(`${dir}/f2.bin`, pseudoRandomBytes(3000, 5));
  await Deno.writeTextFile(`${dir}/meta.json`, '{"dest_dir":"/opt/app","n":[1,2]}');
  await Deno.writeTextFile(`${dir}/meta-nested.json`, '{"a":1,"b":{"c":2}}');
  await Deno.writeTextFile(`${dir}/meta-augment.json`, '{"b":{"d":3}}');
  const rsa = await keys(() => rsaKey(dir, 2048));
  const ec = await keys(() => ecKey(dir));
  const other = await keys(() => rsaKey(dir, 2048, "other"));

  const write = async (name: string, args: string[]) => {
    const out = `${dir}/${name}.mender`;
    await sh(["mender-artifact", "write", ...args, "-o", out]);
    return await Deno.readFile(out);
  };
  const rootfs = ["rootfs-image", "-f", `${dir}/rootfs.img`, "-n", "seed-1", "-t", "dev-a"];
  const seeds: Seeds = {
    dir,
    image,
    keys: { rsa, ec, other },
    gzipSigned: await write("gzip-signed", [
      ...rootfs,
      "-s",
      `${dir}/ArtifactInstall_Enter_00_check`,
      "-k",
      rsa.pair.private,
    ]),
    gzipEc: await write("gzip-ec", [...rootfs, "-k", ec.pair.private]),
    gzip: await write("gzip", rootfs),
    xz: await write("xz", [...rootfs, "--compression", "lzma"]),
    none: await write("none", [...rootfs, "--compression", "none"]),
    module: await write("module", [
      "module-image",
      "-T",
      "app",
      "-n",
      "mod-1",
      "-t",
      "dev-a",
      "-f",
      `${dir}/f1.txt`,
      "-f",
      `${dir}/f2.bin`,
      "-m",
      `${dir}/meta.json`,
    ]),
    v2: await write("v2", [...rootfs, "-v", "2"]),
    bootstrap: await write("bootstrap", ["bootstrap-artifact", "-n", "boot-1", "-t", "dev-a"]),
    augmented: await write("augmented", [
      "module-image",
      "-T",
      "app-orig",
      "-n",
      "aug-1",
      "-t",
      "dev-a",
      "-f",
      `${dir}/f1.txt`,
      "--augment-type",
      "app",
      "--augment-file",
      `${dir}/f2.bin`,
    ]),
    augmentedSigned: new Uint8Array(),
    zstd: new Uint8Array(),
  };
  seeds.augmentedSigned = await write("augmented-signed", [
    "module-image",
    ...["-T", "app-orig", "-n", "aug-2", "-t", "dev-a", "-f", `${dir}/f1.txt`],
    ...["-m", `${dir}/meta-nested.json`, "-p", "app.v:1", "-d", "dep.k:dv"],
    ...["--augment-type", "app", "--augment-file", `${dir}/f2.bin`],
    ...["--augment-provides", "app.delta:yes", "--augment-depends", "delta.base:b1"],
    ...["--augment-meta-data", `${dir}/meta-augment.json`, "-k", rsa.pair.private],
  ]);
  const zstd = `${dir}/zstd.mender`;
  const made = await ota(["artifact", "write", ...rootfs, "--compression", "zstd", "-o", zstd]);
  if (made.code !== 0) throw new Error(`ota artifact write failed: ${made.stderr}`);
  seeds.zstd = await Deno.readFile(zstd);
  return seeds;
}
