/**
 * An emulated board under test: a private copy of the factory disk, and `boot(step)`, one
 * power-on that runs a step script on the board and returns what its console said. The
 * step script is plain sh for the board's busybox, with the helpers of guest/lib.sh.
 */
import { buildUsbStick } from "./disk.ts";
import { sh } from "./host.ts";
import { type Images, images } from "./images.ts";
import { type HwLine, type PowerOn, powerOn } from "./qemu.ts";
import type { Bootloader } from "./rootfs.ts";

export interface RunReport {
  rc: number;
  /** Seconds the command took on the board. */
  s: number;
  out: string;
  err: string;
}

export interface Boot extends PowerOn {
  /** The partition mounted as / (2 = A, 3 = B), or undefined when userspace never came up. */
  part?: number;
  /** artifact_name of the running root filesystem (/etc/mender/artifact_info). */
  release?: string;
  /** Commands run with hw_run, by id. */
  runs: Record<string, RunReport>;
  /** The last bootloader environment the board reported (effective values). */
  env?: Record<string, string>;
  /** The bootloader's own report lines (@@HW uboot ..., @@HW grub ...). */
  loader: HwLine[];
  panicked: boolean;
}

function decode(b64: string | undefined): string {
  if (!b64) return "";
  return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
}

function parseVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) vars[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return vars;
}

/** The variables the bootloader acts on; for GRUB, the copy its script loads. */
export function effectiveEnv(
  bootloader: Bootloader,
  raw: Record<string, string>,
): Record<string, string> {
  if (bootloader === "uboot") return raw;
  const copy = raw["lock2.editing"] !== "0" ? "1" : raw["lock1.editing"] !== "0" ? "2" : "1";
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k.startsWith(`env${copy}.`)) vars[k.slice(5)] = v;
  }
  return vars;
}

function summarise(bootloader: Bootloader, on: PowerOn): Boot {
  const runs: Record<string, RunReport> = {};
  let part: number | undefined;
  let release: string | undefined;
  let env: Record<string, string> | undefined;
  for (const line of on.hw) {
    if (line.tag === "boot") {
      part = Number(line.fields.part) || undefined;
      release = line.fields.release;
    } else if (line.tag === "run") {
      runs[line.fields.id ?? ""] = {
        rc: Number(line.fields.rc),
        s: Number(line.fields.s),
        out: decode(line.fields.out),
        err: decode(line.fields.err),
      };
    } else if (line.tag === "env") {
      env = effectiveEnv(bootloader, parseVars(decode(line.text.split(/\s+/)[1])));
    }
  }
  return {
    ...on,
    part,
    release,
    runs,
    env,
    loader: on.hw.filter((h) => h.tag === bootloader),
    panicked: /Kernel panic - not syncing/.test(on.console),
  };
}

export interface BootOptions {
  /** A directory whose files go on a USB stick plugged in for this boot. */
  usbFiles?: string;
  cut?: string;
  timeoutMs?: number;
  /** QEMU network arguments (network.ts restrictedNetwork); none: no network card. */
  network?: string[];
}

export class Board {
  readonly bootloader: Bootloader;
  readonly images: Images;
  readonly dir: string;
  readonly disk: string;
  readonly log: string;
  readonly boots: Boot[] = [];

  private constructor(bootloader: Bootloader, imgs: Images, dir: string) {
    this.bootloader = bootloader;
    this.images = imgs;
    this.dir = dir;
    this.disk = `${dir}/disk.img`;
    this.log = `${dir}/console.log`;
  }

  /** A board fresh from the factory (release-1 in slot A). */
  static async create(bootloader: Bootloader): Promise<Board> {
    const imgs = await images(bootloader);
    const dir = await Deno.makeTempDir({ prefix: `ota-hw-${bootloader}-` });
    const board = new Board(bootloader, imgs, dir);
    await sh(["cp", "--sparse=always", imgs.disk, board.disk]);
    return board;
  }

  /** One power-on running STEP (sh) on the board. */
  async boot(step: string, options: BootOptions = {}): Promise<Boot> {
    const n = this.boots.length + 1;
    const stepImg = `${this.dir}/step-${n}.img`;
    const script = `. /etc/hw/board.conf\n. /usr/lib/hw/lib.sh\n${
      options.cut ? `hw_arm ${options.cut}\n` : ""
    }${step}\n`;
    const bytes = new TextEncoder().encode(script);
    const padded = new Uint8Array(Math.max(64 * 1024, Math.ceil((bytes.length + 1) / 512) * 512));
    padded.set(bytes);
    await Deno.writeFile(stepImg, padded);
    let usb: string | undefined;
    if (options.usbFiles) {
      usb = `${this.dir}/usb-${n}.img`;
      await buildUsbStick(usb, options.usbFiles, this.dir);
    }
    await Deno.writeTextFile(
      this.log,
      `\n===== power-on ${n}${options.cut ? ` (cut at ${options.cut})` : ""} =====\n`,
      { append: true },
    );
    const on = await powerOn(
      {
        bootloader: this.bootloader,
        disk: this.disk,
        step: stepImg,
        usb,
        log: this.log,
        network: options.network,
      },
      { cut: options.cut, timeoutMs: options.timeoutMs },
    );
    await Deno.remove(stepImg);
    if (usb) await Deno.remove(usb);
    const boot = summarise(this.bootloader, on);
    this.boots.push(boot);
    return boot;
  }

  /** The console of every power-on so far (for failure messages). */
  async consoleTail(lines = 60): Promise<string> {
    const text = await Deno.readTextFile(this.log).catch(() => "");
    return text.split("\n").slice(-lines).join("\n");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (Deno.env.get("OTA_HW_KEEP")) {
      console.error(`board kept in ${this.dir}`);
      return;
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
