/**
 * The guest kernel from Debian's package and the handful of modules the board needs,
 * in load order (dependencies first), read from each module's `depends=` modinfo field so
 * no depmod is needed.
 */
import { kernelPackage, unpacked } from "./debs.ts";

/** What every boot needs: virtio disks, ext4 slots, the FAT boot partition. */
const BOOT = [
  "virtio_pci",
  "virtio_blk",
  "crc32c_generic",
  "ext4",
  "nls_cp437",
  "nls_iso8859_1",
  "nls_ascii",
  "vfat",
];
/** Loaded only when a USB stick is plugged in (probing USB costs boot time under TCG). */
const USB = ["crct10dif_generic", "crc64_rocksoft_generic", "xhci_pci", "sd_mod", "usb_storage"];
/** Loaded only by boots that bring the network up (managed mode). */
const NET = ["virtio_net"];

export interface Kernel {
  version: string;
  vmlinuz: string;
  /** Module files (absolute paths on the host) in the order to load them. */
  modules: string[];
  /** The USB stick's modules, in load order, not already in `modules`. */
  usbModules: string[];
  /** The network card's modules, in load order, in neither list above. */
  netModules: string[];
}

function normalise(name: string): string {
  return name.replaceAll("-", "_");
}

async function indexModules(dir: string): Promise<Map<string, string>> {
  const index = new Map<string, string>();
  const walk = async (path: string) => {
    for await (const entry of Deno.readDir(path)) {
      const full = `${path}/${entry.name}`;
      if (entry.isDirectory) await walk(full);
      else if (entry.name.endsWith(".ko")) index.set(normalise(entry.name.slice(0, -3)), full);
    }
  };
  await walk(dir);
  return index;
}

async function dependsOf(file: string): Promise<string[]> {
  const bytes = await Deno.readFile(file);
  const text = new TextDecoder("latin1").decode(bytes);
  const match = /\0depends=([^\0]*)\0/.exec(text);
  return match && match[1] ? match[1].split(",").map(normalise) : [];
}

/** The board's kernel: PKG (a linux-image-*-amd64 package), by default the current one. */
export async function guestKernel(pkg?: string): Promise<Kernel> {
  pkg ??= await kernelPackage();
  const version = pkg.replace(/^linux-image-/, "");
  const dir = await unpacked(pkg);
  const index = await indexModules(`${dir}/lib/modules/${version}/kernel`);
  const order: string[] = [];
  const visit = async (name: string, path: string[]) => {
    if (order.includes(name)) return;
    const file = index.get(name);
    if (!file) {
      throw new Error(`kernel ${version} has no module ${name} (needed by ${path.join(" <- ")})`);
    }
    for (const dep of await dependsOf(file)) await visit(dep, [name, ...path]);
    if (!order.includes(name)) order.push(name);
  };
  for (const name of BOOT) await visit(name, []);
  const boot = order.length;
  for (const name of USB) await visit(name, []);
  const usb = order.length;
  for (const name of NET) await visit(name, []);
  return {
    version,
    vmlinuz: `${dir}/boot/vmlinuz-${version}`,
    modules: order.slice(0, boot).map((name) => index.get(name)!),
    usbModules: order.slice(boot, usb).map((name) => index.get(name)!),
    netModules: order.slice(usb).map((name) => index.get(name)!),
  };
}
