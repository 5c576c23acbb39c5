/**
 * What `modify`, `cp`, `cat`, `install` and `rm` work on: an artifact whose payload is an
 * ext4 image (a rootfs-image, or a module image whose first file is one), a module image's
 * payload files, or a bare ext4 image (`.img`). An artifact is verified and unpacked first,
 * and written back (re-signed when a key is given) only when something changed.
 */
import { promises as fs } from "node:fs";
import { join } from "node:path";
import type { Compression } from "../artifact/compression.ts";
import { isPortablePayloadName } from "../artifact/names.ts";
import { type RepackArgs, repackArgs, writeRepacked } from "../artifact/repack.ts";
import type { SigningKey } from "../artifact/signature.ts";
import { unpackArtifact, type UnpackedArtifact } from "../artifact/unpack.ts";
import { fail } from "../errors.ts";
import * as ext4 from "./ext4.ts";
import { requireRootfsPath } from "./image_path.ts";

export interface ImageOptions {
  signingKey?: SigningKey;
  /** Repack with this compression instead of the artifact's own. */
  compression?: Compression;
}

export interface VirtualImage {
  /** `ext4`: paths are inside an ext4 image; `payload`: paths name payload files. */
  kind: "ext4" | "payload";
  /** The header fields of an artifact, to edit; undefined for a bare ext4 image. */
  args?: RepackArgs;
  /** The artifact was signed and no key was given: it is written back unsigned. */
  losesSignature(): boolean;
  markChanged(): void;
  copyIn(hostFile: string, path: string): Promise<void>;
  copyOut(path: string, hostFile: string): Promise<void>;
  /** A host file with the content of `path`, removed on disposal. */
  readable(path: string): Promise<{ file: string } & AsyncDisposable>;
  remove(path: string, recursive: boolean): Promise<void>;
  makeDir(path: string): Promise<void>;
  /** Writes the artifact back when it changed; always removes the unpacked copy. */
  close(): Promise<void>;
  /** Removes the unpacked copy and leaves the artifact as it was. */
  discard(): Promise<void>;
}

async function startsLikeArtifact(path: string): Promise<boolean> {
  const handle = await fs.open(path, "r").catch((error) =>
    fail("FILE_READ", `cannot open ${path}: ${(error as Error).message}`)
  );
  try {
    const head = new Uint8Array(8);
    await handle.read(head, 0, 8, 0);
    return new TextDecoder().decode(head) === "version\0";
  } finally {
    await handle.close();
  }
}

export async function openImage(path: string, options: ImageOptions = {}): Promise<VirtualImage> {
  if (await startsLikeArtifact(path)) return await openArtifactImage(path, options);
  if (await ext4.isExtImage(path)) {
    const done = () => Promise.resolve();
    return { ...ext4Image(path, undefined, done), discard: done };
  }
  if (/\.(sdimg|uefiimg)$/.test(path)) {
    fail("NOT_SUPPORTED", `${path}: partitioned disk images are not supported; edit the artifact`);
  }
  return fail("IMAGE_FS_UNSUPPORTED", `${path} is neither a Mender artifact nor an ext4 image`);
}

async function openArtifactImage(path: string, options: ImageOptions): Promise<VirtualImage> {
  const unpacked = await unpackArtifact(path);
  try {
    const args = repackArgs(unpacked);
    if (options.compression) args.compression = options.compression;
    let changed = false;
    const close = async () => {
      try {
        if (changed) await writeRepacked(args, path, options.signingKey);
      } finally {
        await unpacked[Symbol.asyncDispose]();
      }
    };
    const first = unpacked.files[0];
    const image = args.type === "rootfs-image" || (first && await ext4.isExtImage(first.path))
      ? ext4Image(rootfsOf(unpacked, args), args, close)
      : payloadImage(unpacked, args, close);
    return {
      ...image,
      discard: async () => await unpacked[Symbol.asyncDispose](),
      losesSignature: () => changed && unpacked.signed && !options.signingKey,
      markChanged: () => {
        changed = true;
      },
      copyIn: async (host, at) => {
        changed = true;
        await image.copyIn(host, at);
      },
      remove: async (at, recursive) => {
        changed = true;
        await image.remove(at, recursive);
      },
      makeDir: async (at) => {
        changed = true;
        await image.makeDir(at);
      },
    };
  } catch (error) {
    await unpacked[Symbol.asyncDispose]();
    throw error;
  }
}

function rootfsOf(unpacked: UnpackedArtifact, args: RepackArgs): string {
  if (args.type === "rootfs-image" && unpacked.files.length !== 1) {
    fail("PAYLOAD_INVALID", "a rootfs-image artifact must carry exactly one image file");
  }
  return unpacked.files[0]!.path;
}

type Parts = Omit<VirtualImage, "discard">;

function ext4Image(
  image: string,
  args: RepackArgs | undefined,
  close: () => Promise<void>,
): Parts {
  /** What mender-artifact checks before each file it opens in an image. */
  const prepare = async (path: string, needsDir = true) => {
    if (args) requireRootfsPath(path);
    await ext4.checkFilesystem(image);
    if (needsDir) await ext4.requireDirectory(image, path);
  };
  return {
    kind: "ext4",
    args,
    losesSignature: () => false,
    markChanged: () => {},
    copyIn: async (host, path) => {
      await prepare(path);
      await ext4.replaceFile(image, path, host);
    },
    copyOut: async (path, host) => {
      await prepare(path);
      await ext4.copyOut(image, path, host);
    },
    readable: async (path) => {
      await prepare(path);
      return await ext4.dumpToTemp(image, path);
    },
    remove: async (path, recursive) => {
      await prepare(path);
      await ext4.removePath(image, path, recursive);
    },
    makeDir: async (path) => {
      await prepare(path, false);
      await ext4.makeDirectory(image, path);
    },
    close,
  };
}

/** A module image's payload is flat: `/name` or `name` is one of its files. */
function payloadImage(
  unpacked: UnpackedArtifact,
  args: RepackArgs,
  close: () => Promise<void>,
): Parts {
  const files = args.files as { name: string; path: string }[];
  const nameOf = (path: string) => {
    const name = path.replace(/^\/+/, "");
    if (!isPortablePayloadName(name)) {
      fail(
        "IMAGE_PATH",
        `${path}: a ${args.type} payload holds plain files (${
          files.map((f) => f.name).join(", ") || "none yet"
        }); name one with letters, digits and _-.,`,
      );
    }
    return name;
  };
  const find = (path: string) => {
    const file = files.find((f) => f.name === nameOf(path));
    if (!file) fail("IMAGE_NOT_FOUND", `the payload has no file ${nameOf(path)}`);
    return file;
  };
  return {
    kind: "payload",
    args,
    losesSignature: () => false,
    markChanged: () => {},
    copyIn: async (host, path) => {
      const name = nameOf(path);
      const existing = files.find((f) => f.name === name);
      const target = existing?.path ?? join(unpacked.dir, "files", name);
      await fs.copyFile(host, target).catch((error) =>
        fail("FILE_READ", `cannot read ${host}: ${(error as Error).message}`)
      );
      if (!existing) files.push({ name, path: target });
    },
    copyOut: async (path, host) => {
      await fs.copyFile(find(path).path, host).catch((error) =>
        fail("FILE_WRITE", `cannot write ${host}: ${(error as Error).message}`)
      );
    },
    readable: (path) =>
      Promise.resolve({ file: find(path).path, [Symbol.asyncDispose]: async () => {} }),
    remove: async (path) => {
      const file = find(path);
      files.splice(files.indexOf(file), 1);
      await fs.rm(file.path, { force: true });
    },
    makeDir: (path) =>
      fail("NOT_SUPPORTED", `${path}: a ${args.type} payload holds files only, no directories`),
    close,
  };
}
