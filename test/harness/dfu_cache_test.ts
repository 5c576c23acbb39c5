/**
 * The DFU guest's kernel cache (test/dfu/guest_kernel.sh) without QEMU: a Debian-style
 * kernel package on a loopback mirror, fetched with the real apt through the script's private
 * apt configuration. Concurrent cold builds wait for one and agree; a mirror's short body is
 * retried; a kernel that never comes whole fails in one line and leaves no entry behind.
 */
import { assertEquals, assertMatch, at } from "../helpers/assert.ts";
import { hasCommand, ROOT, run, sh, tempDir } from "../helpers/mod.ts";
import { lastLine, type Mirror, startMirror } from "./apt_mirror.ts";

const ignore = !hasCommand("apt-get") || !hasCommand("dpkg-deb") || !hasCommand("flock") ||
  !hasCommand("xz");
const KERNEL = "linux-image-6.12.99+bpo-amd64";
const VERSION = "6.12.99+bpo-amd64";

/** The modules guest_kernel.sh takes, where Debian's package has them (all but one xz'd). */
const MODULES = [
  "fs/configfs/configfs",
  "drivers/usb/common/usb-common",
  "drivers/usb/core/usbcore",
  "drivers/usb/gadget/udc/udc-core",
  "drivers/usb/gadget/libcomposite",
  "drivers/usb/gadget/function/usb_f_fs",
  "drivers/usb/gadget/udc/dummy_hcd",
  "fs/netfs/netfs",
  "net/9p/9pnet",
  "net/9p/9pnet_virtio",
];

async function kernelFiles(work: string): Promise<Record<string, Uint8Array | string>> {
  const files: Record<string, Uint8Array | string> = {
    [`boot/vmlinuz-${VERSION}`]: "BZIMAGE",
    [`lib/modules/${VERSION}/kernel/fs/9p/9p.ko`]: "MODULE 9p",
    [`lib/modules/${VERSION}/kernel/drivers/usb/storage/usb-storage.ko.xz`]: "not wanted",
  };
  for (const module of MODULES) {
    const plain = `${work}/${module.split("/").pop()}.ko`;
    await Deno.writeTextFile(plain, `MODULE ${module}`);
    await sh(["xz", "-f", plain]);
    files[`lib/modules/${VERSION}/kernel/${module}.ko.xz`] = await Deno.readFile(`${plain}.xz`);
  }
  return files;
}

async function withKernelMirror(
  fn: (mirror: Mirror, env: Record<string, string>, cache: string) => Promise<void>,
) {
  await using work = await tempDir("ota-dfu-cache-");
  await using mirror = await startMirror(work.path, [
    { name: "linux-image-amd64", version: "6.12.99-1~bpo12+1", depends: KERNEL },
    { name: KERNEL, version: "6.12.99-1~bpo12+1", files: await kernelFiles(work.path) },
  ]);
  const cache = `${work.path}/cache`;
  await fn(mirror, {
    OTA_DFU_CACHE: cache,
    OTA_DFU_KERNEL_SUITE: mirror.suite,
    OTA_DFU_APT_SOURCE: mirror.source,
    OTA_APT_BACKOFF: "0",
  }, cache);
}

const guestKernel = (env: Record<string, string>) =>
  run([`${ROOT}/test/dfu/guest_kernel.sh`], { env });

Deno.test({
  name: "dfu cache: concurrent cold builds of the guest kernel fetch and unpack once",
  ignore,
}, async () => {
  await withKernelMirror(async (mirror, env, cache) => {
    mirror.fault(KERNEL, "short");
    const outs = await Promise.all([1, 2, 3].map(() => guestKernel(env)));
    const kdir = `${cache}/kernel-${mirror.suite}`;
    for (const out of outs) {
      assertEquals(out.code, 0, out.stderr);
      assertEquals(out.stdout, `${kdir}\n`);
    }
    assertEquals(mirror.requests(KERNEL), 2); // the short body and one whole: one fetcher
    assertEquals(outs.filter((o) => /try 1 of 5.*unexpected size/.test(o.stderr)).length, 1);
    assertEquals(await Deno.readTextFile(`${kdir}/vmlinuz`), "BZIMAGE");
    assertEquals(await Deno.readTextFile(`${kdir}/ready`), `${KERNEL}\n`);
    const modules = [...Deno.readDirSync(`${kdir}/modules`)].map((e) => e.name).sort();
    const want = [...MODULES.map((m) => `${m.split("/").pop()}.ko`), "9p.ko"].sort();
    assertEquals(modules, want);
    assertEquals(
      await Deno.readTextFile(`${kdir}/modules/usb_f_fs.ko`),
      `MODULE ${at(MODULES, 5)}`,
    );
    const entries = [...Deno.readDirSync(cache)].map((e) => e.name).sort();
    assertEquals(entries, [`apt-${mirror.suite}`, `kernel-${mirror.suite}`, `kernel-test.lock`]);
    // warm: no apt at all
    const warm = await guestKernel({
      ...env,
      OTA_DFU_APT_SOURCE: "deb http://127.0.0.1:9/ x main",
    });
    assertEquals([warm.code, warm.stdout], [0, `${kdir}\n`]);
  });
});

Deno.test({
  name: "dfu cache: a kernel that never comes whole fails in one line and leaves no entry",
  ignore,
}, async () => {
  await withKernelMirror(async (mirror, env, cache) => {
    mirror.fault(KERNEL, "short", "short", "short");
    const out = await guestKernel({ ...env, OTA_APT_TRIES: "3" });
    assertEquals(out.code, 1);
    assertEquals(out.stdout, "");
    assertMatch(
      lastLine(out.stderr),
      /^dfu cache: cannot download linux-image-6\.12\.99\+bpo-amd64 after 3 tries: Failed to fetch \S+ File has unexpected size \(\d+ != \d+\)\. Mirror sync in progress\? \[IP: [^\]]+\]$/,
    );
    const entries = [...Deno.readDirSync(cache)].map((e) => e.name).sort();
    assertEquals(entries, [`apt-${mirror.suite}`, `kernel-test.lock`]);
    const downloads = [...Deno.readDirSync(`${cache}/apt-${mirror.suite}/downloads`)];
    assertEquals(downloads.map((e) => e.name), [`${KERNEL}.lock`]);
    const next = await guestKernel(env);
    assertEquals(next.code, 0, next.stderr);
  });
});
