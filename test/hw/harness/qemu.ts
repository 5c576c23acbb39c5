/**
 * One power-on of the emulated board: QEMU (TCG) runs until the machine resets or powers
 * off (-no-reboot turns a reset into an exit, so every boot is one QEMU process and the
 * host can change the step disk in between), the console is read line by line, and a
 * named cut point ends the run with SIGKILL: a power cut.
 */
export interface MachineSpec {
  bootloader: "uboot" | "grub";
  disk: string;
  step: string;
  usb?: string;
  log: string;
  /** A network the test builds: see network.ts (without it the board has no network card). */
  network?: string[];
}

export interface HwLine {
  /** Milliseconds since power-on when the host read the line. */
  t: number;
  tag: string;
  /** key=value words after the tag; the rest as text. */
  fields: Record<string, string>;
  text: string;
}

export type BootEnd = "poweroff" | "reboot" | "reset" | "cut" | "hang";

export interface PowerOn {
  end: BootEnd;
  /** Every @@HW line, in order. */
  hw: HwLine[];
  console: string;
  cut?: string;
  ms: number;
}

export interface PowerOnOptions {
  /** The cut point armed in the step; reaching it kills QEMU. */
  cut?: string;
  /** A hang (no reset, no poweroff) is declared after this long. */
  timeoutMs?: number;
}

function qemuArgs(spec: MachineSpec): string[] {
  const args = [
    // TCG's SHA and AVX-512 instructions are slower than the scalar paths they replace
    "-machine",
    "pc",
    "-cpu",
    "max,-sha-ni,-avx512f",
    "-m",
    "1024",
    "-smp",
    "1",
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-vga",
    "none",
    "-serial",
    "stdio",
    "-monitor",
    "none",
    ...(spec.network ?? ["-nic", "none"]),
    "-no-reboot",
    "-drive",
    `file=${spec.disk},if=none,id=disk,format=raw,cache=writeback`,
    "-device",
    "virtio-blk-pci,drive=disk,bootindex=0",
    "-drive",
    `file=${spec.step},if=none,id=step,format=raw,readonly=on`,
    "-device",
    "virtio-blk-pci,drive=step",
  ];
  if (spec.bootloader === "uboot") args.push("-bios", "/usr/lib/u-boot/qemu-x86/u-boot.rom");
  if (spec.usb) {
    args.push(
      "-device",
      "qemu-xhci,id=xhci",
      "-drive",
      `file=${spec.usb},if=none,id=usb,format=raw,readonly=on`,
      "-device",
      "usb-storage,bus=xhci.0,drive=usb",
    );
  }
  return args;
}

export function parseHwLine(line: string): HwLine | undefined {
  const at = line.indexOf("@@HW ");
  if (at < 0) return undefined;
  const text = line.slice(at + 5).trim();
  const [tag = "", ...words] = text.split(/\s+/);
  const fields: Record<string, string> = {};
  for (const word of words) {
    const eq = word.indexOf("=");
    if (eq > 0) fields[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return { t: 0, tag, fields, text };
}

export async function powerOn(spec: MachineSpec, options: PowerOnOptions = {}): Promise<PowerOn> {
  const started = performance.now();
  const child = new Deno.Command("qemu-system-x86_64", {
    args: qemuArgs(spec),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const hw: HwLine[] = [];
  let console = "";
  let cut: string | undefined;
  let killed: "cut" | "hang" | undefined;
  const timer = setTimeout(() => {
    killed = "hang";
    child.kill("SIGKILL");
  }, options.timeoutMs ?? 300_000);
  const log = await Deno.open(spec.log, { create: true, append: true });
  const decoder = new TextDecoder();
  let pending = "";
  const stderr = new Response(child.stderr).text();
  try {
    for await (const chunk of child.stdout) {
      await log.write(chunk);
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const raw of lines) {
        const line = raw.replace(/\r/g, "");
        console += line + "\n";
        const parsed = parseHwLine(line);
        if (!parsed) continue;
        parsed.t = Math.round(performance.now() - started);
        hw.push(parsed);
        if (
          parsed.tag === "cut" && !killed && options.cut && parsed.text === `cut ${options.cut}`
        ) {
          cut = options.cut;
          killed = "cut";
          child.kill("SIGKILL");
        }
      }
    }
  } finally {
    clearTimeout(timer);
    log.close();
  }
  const status = await child.status;
  const err = await stderr;
  if (!killed && status.code !== 0) {
    throw new Error(`qemu-system-x86_64 exited ${status.code}: ${err}`);
  }
  const last = hw.map((h) => h.tag).filter((t) => t === "poweroff" || t === "reboot").pop();
  const end: BootEnd = killed ??
    (last === "poweroff" ? "poweroff" : last === "reboot" ? "reboot" : "reset");
  return { end, hw, console, cut, ms: performance.now() - started };
}
