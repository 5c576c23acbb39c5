/**
 * A simulated board whose running slot holds release 1 of a root filesystem and an adaptive
 * artifact of release 2 written by the binary: the same files but a new kernel, a changed
 * library and a new release file, as a security update would be. Both images are ext4 with
 * 4 KiB blocks. The board reads its running slot's bytes from the slot image
 * (AdaptiveReadPartA/B): its running slot's node stands for the host's root device.
 */
import { slotImage } from "../../examples/device/device.ts";
import { pseudoRandomBytes, run, sh } from "../helpers/mod.ts";
import { BINARY } from "../helpers/mod.ts";
import { type KeyPair, rsaKey } from "../helpers/keys.ts";
import { type Fixture, fixture } from "./fixture.ts";

export interface AdaptiveBoard extends AsyncDisposable {
  f: Fixture;
  oldImage: string;
  newImage: string;
  /** The directory the artifact is served from, and the artifact in it. */
  serveDir: string;
  artifact: string;
  key?: KeyPair;
  /** What the writer said (stderr). */
  written: string;
}

async function tree(dir: string, release: number): Promise<void> {
  const files: Record<string, Uint8Array> = {
    "etc/slot-id": new TextEncoder().encode(`release-${release} rootfs\n`),
    "etc/release": new TextEncoder().encode(`release-${release}\n`),
    // the kernel is new in every release; libc-3 changed; the rest stays
    "boot/vmlinuz": pseudoRandomBytes(1_500_000 + release * 4096, 100 + release),
    "usr/lib/libc-3.so": pseudoRandomBytes(300_000, release === 1 ? 3 : 303),
    "usr/bin/app": pseudoRandomBytes(2_000_000, 7),
  };
  for (let i = 0; i < 24; i++) files[`usr/lib/lib${i}.so`] = pseudoRandomBytes(250_000, 20 + i);
  for (const [name, bytes] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${name.slice(0, name.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeFile(`${dir}/${name}`, bytes);
  }
}

/** An ext4 image (4 KiB blocks) of release N, as the board's slots are sized. */
async function release(dir: string, n: number): Promise<string> {
  const root = `${dir}/tree-${n}`;
  await tree(root, n);
  const image = `${dir}/release-${n}.ext4`;
  await sh(["mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "rootfs", "-d", root, image, "16M"]);
  await Deno.remove(root, { recursive: true });
  return image;
}

export async function adaptiveBoard(
  options: {
    compression?: "gzip" | "none";
    signed?: boolean;
    config?: Record<string, unknown>;
    /** More options for `ota artifact write`. */
    write?: string[];
  } = {},
): Promise<AdaptiveBoard> {
  const f = await fixture();
  const key = options.signed ? await rsaKey(f.dir, 2048) : undefined;
  const configured = JSON.parse(await Deno.readTextFile(f.device.config));
  await Deno.writeTextFile(
    f.device.config,
    JSON.stringify({
      ...configured,
      AdaptiveReadPartA: slotImage(f.device.dir, 2),
      AdaptiveReadPartB: slotImage(f.device.dir, 3),
      ...(key ? { ArtifactVerifyKey: key.public } : {}),
      ...options.config,
    }),
  );
  const oldImage = await release(f.dir, 1);
  const newImage = await release(f.dir, 2);
  await sh([
    "dd",
    `if=${oldImage}`,
    `of=${slotImage(f.device.dir, 2)}`,
    "bs=1M",
    "conv=notrunc",
    "status=none",
  ]);
  const serveDir = `${f.dir}/served`;
  await Deno.mkdir(serveDir);
  const artifact = `${serveDir}/release-2.mender`;
  const write = await run([
    BINARY,
    "artifact",
    "write",
    "rootfs-image",
    "-n",
    "release-2",
    "-t",
    f.device.deviceType,
    "-f",
    newImage,
    "-o",
    artifact,
    "--adaptive",
    "--compression",
    options.compression ?? "gzip",
    "--no-progress",
    ...(key ? ["-k", key.private] : []),
    ...options.write ?? [],
  ]);
  if (write.code !== 0) throw new Error(`ota artifact write failed: ${write.stderr}`);
  return {
    f,
    oldImage,
    newImage,
    serveDir,
    artifact,
    key,
    written: write.stderr,
    [Symbol.asyncDispose]: () => f[Symbol.asyncDispose](),
  };
}

/** The adaptive log lines of an install: what was reused and what was fetched. */
export function adaptiveLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /Adaptive update|Reused|downloading the whole/.test(l));
}
