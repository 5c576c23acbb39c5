/**
 * The guest's Debian packages: `apt-get download` into the cache, unpacked with dpkg-deb.
 * The kernel is whatever linux-image-amd64 points at today (the generic flavour: the cloud
 * one has no USB storage).
 */
import { CACHE_DIR, exists, sh } from "./host.ts";

const DEB_DIR = `${CACHE_DIR}/debs`;

async function download(name: string): Promise<string> {
  await Deno.mkdir(DEB_DIR, { recursive: true });
  const have = [...Deno.readDirSync(DEB_DIR)].find((e) => e.name.startsWith(`${name}_`));
  if (have) return `${DEB_DIR}/${have.name}`;
  await sh(["apt-get", "download", "-q", name], { cwd: DEB_DIR });
  const got = [...Deno.readDirSync(DEB_DIR)].find((e) => e.name.startsWith(`${name}_`));
  if (!got) throw new Error(`apt-get download ${name} left no .deb in ${DEB_DIR}`);
  return `${DEB_DIR}/${got.name}`;
}

/** Downloads and unpacks a package once; returns the directory holding its files. */
export async function unpacked(name: string): Promise<string> {
  const dir = `${CACHE_DIR}/pkg/${name}`;
  if (await exists(`${dir}/.done`)) return dir;
  const deb = await download(name);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  await sh(["dpkg-deb", "-x", deb, dir]);
  await Deno.writeTextFile(`${dir}/.done`, deb);
  return dir;
}

/** The concrete kernel package behind the linux-image-amd64 metapackage. */
export async function kernelPackage(): Promise<string> {
  const meta = await download("linux-image-amd64");
  const depends = await sh(["dpkg-deb", "-f", meta, "Depends"]);
  const match = /linux-image-[0-9][^\s,(]*-amd64/.exec(depends);
  if (!match) throw new Error(`cannot find the kernel package in Depends: ${depends}`);
  return match[0];
}
