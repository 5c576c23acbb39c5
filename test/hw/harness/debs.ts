/**
 * The guest's Debian packages: fetched with scripts/apt-fetch.sh (retried on a mirror's
 * transient errors, checked against the index, renamed into the cache only when whole) and
 * unpacked once with dpkg-deb. The kernel is whatever linux-image-amd64 pointed at when it was
 * first fetched (the generic flavour: the cloud one has no USB storage).
 */
import { cacheEntry, shared } from "./cache.ts";
import { CACHE_DIR, ROOT, run, sh } from "./host.ts";

const DOWNLOADS = `${CACHE_DIR}/downloads`;
const FETCH = `${ROOT}/scripts/apt-fetch.sh`;

/** The cached .deb of package NAME, downloaded first if needed. */
export function download(name: string): Promise<string> {
  return shared(`download ${name}`, async () => {
    const out = await run([FETCH, "hw cache", DOWNLOADS, name]);
    const lines = out.stderr.trim().split("\n").filter(Boolean);
    // one line that says what failed and why, the last the script wrote
    if (out.code !== 0) throw new Error(lines.at(-1) ?? `${FETCH} exited ${out.code}`);
    if (lines.length) console.error(lines.join("\n")); // the retries it took
    return out.stdout.trim();
  });
}

/** Downloads and unpacks a package once; returns the directory holding its files. */
export function unpacked(name: string): Promise<string> {
  return cacheEntry(`${CACHE_DIR}/pkg/${name}`, async (tmp) => {
    await sh(["dpkg-deb", "-x", await download(name), tmp]);
  });
}

/** The concrete kernel package behind the linux-image-amd64 metapackage. */
export async function kernelPackage(): Promise<string> {
  const meta = await download("linux-image-amd64");
  const depends = await sh(["dpkg-deb", "-f", meta, "Depends"]);
  const match = /linux-image-[0-9][^\s,(]*-amd64/.exec(depends);
  if (!match) throw new Error(`cannot find the kernel package in Depends: ${depends}`);
  return match[0];
}
