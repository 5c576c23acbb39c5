/**
 * mender-artifact's `IMAGE:PATH` arguments (`release.mender:/etc/mender/mender.conf`): the
 * part before the first colon names an artifact or an image, the rest a path inside it.
 * An argument counts as an image only when it ends in .mender, .sdimg, .uefiimg or .img
 * (or has one of those before the colon), as in mender-artifact.
 */
import { fail } from "../errors.ts";

const imageName = /\.(mender|sdimg|uefiimg|img)(:|$)/;

export function looksLikeImage(arg: string): boolean {
  return imageName.test(arg);
}

export interface ImagePath {
  image: string;
  path: string;
}

export function parseImagePath(arg: string): ImagePath {
  const at = arg.indexOf(":");
  if (at < 0) {
    fail("IMAGE_PATH", `${JSON.stringify(arg)} names no path inside the image (IMAGE:PATH)`);
  }
  const path = arg.slice(at + 1);
  if (!path) fail("IMAGE_PATH", `${JSON.stringify(arg)}: give a path after the colon`);
  return { image: arg.slice(0, at), path };
}

/** mender-artifact keeps an artifact's boot and data partitions out of reach: it has neither. */
export function requireRootfsPath(path: string): void {
  if (/^\/(uboot|boot\/(efi|grub))(\/|$)/.test(path)) {
    fail("IMAGE_PATH", `${path}: an artifact holds only a root file system, no boot partition`);
  }
  if (/^\/data(\/|$)/.test(path)) {
    fail("IMAGE_PATH", `${path}: an artifact holds only a root file system, no data partition`);
  }
}
