/**
 * A QEMU guest with a real USB stack for the DFU tests: a Debian kernel with dummy_hcd
 * (two host/device controller pairs), libcomposite and FunctionFS; virtual boards
 * (test/dfu/board/) are USB gadgets on it, and the real dfu-util, the real Mender client
 * and ota run inside it. Host and guest share one directory over virtio-9p: /share in the
 * guest, `guest.share` here. Boots in about 8 s (TCG); see README.md.
 *
 *   await using guest = await bootGuest();
 *   const board = await guest.startBoard({ name: "a", flash: makeFirmware("1.0.0") });
 *   const result = await guest.exec("dfu-util -l");
 *   guest.flash("a")   // what the virtual board's flash holds now
 */
import { ROOT, type RunResult, sh } from "../helpers/mod.ts";
import { readFlash } from "./firmware.ts";

export interface BoardOptions {
  name: string;
  /** Which dummy controller pair (bus) the board plugs into: 0 or 1. */
  port?: number;
  serial?: string;
  vid?: number;
  pid?: number;
  /** Product id in DFU mode, when it differs from the run-time one. */
  dfuPid?: number;
  memory?: number;
  transfer?: number;
  /** DfuSe variant with the flash at this address. */
  dfuse?: number;
  noUpload?: boolean;
  /** Initial flash content (padded with 0xFF). Default: keep what the flash file holds. */
  flash?: Uint8Array;
  faults?: string[];
}

export interface Guest extends AsyncDisposable {
  /** Host path of the directory the guest sees as /share. */
  share: string;
  /** Runs a shell script in the guest (as root, cwd /); output and exit code. */
  exec(script: string, options?: { timeout?: number }): Promise<RunResult>;
  /** exec(), failing with the output when the script does not exit 0. */
  sh(script: string, options?: { timeout?: number }): Promise<string>;
  startBoard(options: BoardOptions): Promise<void>;
  stopBoard(name: string): Promise<void>;
  /** What the board's flash holds now (read from the shared directory). */
  flash(name: string): ReturnType<typeof readFlash>;
  /** The board's own log (its stderr). */
  boardLog(name: string): string;
  /** "runtime <version>", "dfu" or "gone". */
  status(name: string): string;
  setFaults(name: string, faults: string[]): void;
  /** Writes a file into the share; returns its path inside the guest. */
  put(relative: string, data: Uint8Array | string): string;
  close(): Promise<void>;
}

let built: Promise<string> | undefined;

/** Builds the kernel + initramfs once per test process (the ota binary must be built). */
function buildOnce(): Promise<string> {
  built ??= (async () => {
    const dir = Deno.makeTempDirSync({ prefix: "ota-dfu-guest-" });
    await sh([`${ROOT}/test/dfu/build_guest.sh`, dir]);
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    return dir;
  })();
  return built;
}

export async function bootGuest(): Promise<Guest> {
  const images = await buildOnce();
  const share = await Deno.makeTempDir({ prefix: "ota-dfu-share-" });
  await Deno.mkdir(`${share}/boards`);
  // Second serial port: a FIFO pair the host writes a newline into to wake the guest.
  const wake = `${share}/.wake`;
  await sh(["mkfifo", `${wake}.in`, `${wake}.out`]);
  const consoleLog: string[] = [];
  const consoleTail = () => {
    let text = consoleLog.join("");
    try {
      text = Deno.readTextFileSync(`${share}/.console`) + text;
    } catch { /* not written yet */ }
    return text.slice(-3000);
  };
  const qemu = new Deno.Command("qemu-system-x86_64", {
    args: [
      ...["-M", "pc", "-cpu", "max", "-smp", "2", "-m", "1536", "-no-reboot"],
      // The console goes to a file: a stdio console with no input keeps QEMU's main loop busy.
      ...["-display", "none", "-monitor", "none", "-serial", `file:${share}/.console`],
      ...["-kernel", `${images}/vmlinuz`, "-initrd", `${images}/initramfs.cpio`],
      ...["-append", "console=ttyS0 quiet panic=-1"],
      "-virtfs",
      `local,path=${share},mount_tag=share,security_model=none,id=share`,
      ...["-serial", `pipe:${wake}`],
      ...["-nic", "none"],
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      consoleLog.push(chunk);
      if (consoleLog.length > 2000) consoleLog.splice(0, 1000);
    }
  };
  const drained = Promise.all([drain(qemu.stdout), drain(qemu.stderr)]);
  let exited = false;
  const status = qemu.status.then((s) => {
    exited = true;
    return s;
  });

  const deadline = Date.now() + 120_000;
  while (!exists(`${share}/ready`)) {
    if (exited || Date.now() > deadline) {
      if (!exited) qemu.kill("SIGKILL");
      await status;
      throw new Error(`the DFU guest did not boot:\n${consoleTail()}`);
    }
    await delay(100);
  }

  // QEMU holds the FIFOs open read-write, so this open does not block.
  const wakeIn = await Deno.open(`${wake}.in`, { write: true });
  let counter = 0;
  const exec = async (script: string, options: { timeout?: number } = {}) => {
    const id = `${Date.now()}-${counter++}`;
    const base = `${share}/cmd/${id}`;
    const timeout = options.timeout ?? 120;
    Deno.writeTextFileSync(`${base}.body`, script);
    Deno.writeTextFileSync(
      `${base}.tmp`,
      `exec timeout -s KILL ${timeout} sh /share/cmd/${id}.body\n`,
    );
    Deno.renameSync(`${base}.tmp`, `${base}.sh`);
    await wakeIn.write(new TextEncoder().encode("\n"));
    const until = Date.now() + (timeout + 30) * 1000;
    while (!exists(`${base}.rc`)) {
      if (exited) throw new Error(`the DFU guest stopped:\n${consoleTail()}`);
      if (Date.now() > until) throw new Error(`guest command did not finish: ${script}`);
      await delay(50);
    }
    const result = {
      code: Number(Deno.readTextFileSync(`${base}.rc`).trim()),
      stdout: Deno.readTextFileSync(`${base}.out`),
      stderr: Deno.readTextFileSync(`${base}.err`),
    };
    for (const ext of ["body", "run", "out", "err", "rc"]) {
      Deno.removeSync(`${base}.${ext}`);
    }
    return result;
  };
  const guestSh = async (script: string, options: { timeout?: number } = {}) => {
    const result = await exec(script, options);
    if (result.code !== 0) {
      throw new Error(`guest: exit ${result.code}: ${script}\n${result.stdout}\n${result.stderr}`);
    }
    return result.stdout;
  };
  const boardDir = (name: string) => `${share}/boards/${name}`;

  const guest: Guest = {
    share,
    exec,
    sh: guestSh,
    async startBoard(o) {
      const dir = boardDir(o.name);
      Deno.mkdirSync(dir, { recursive: true });
      if (o.flash) {
        const flash = new Uint8Array(o.memory ?? 65536).fill(0xff);
        flash.set(o.flash.subarray(0, flash.length));
        Deno.writeFileSync(`${dir}/flash.bin`, flash);
      }
      guest.setFaults(o.name, o.faults ?? []);
      try {
        Deno.removeSync(`${dir}/status`);
      } catch { /* first start */ }
      const hex = (n: number) => `0x${n.toString(16)}`;
      const args = [
        `--state /share/boards/${o.name}`,
        `--udc dummy_udc.${o.port ?? 0}`,
        `--name ${o.name}`,
        `--serial ${o.serial ?? `BOARD-${o.name.toUpperCase()}`}`,
        `--vid ${hex(o.vid ?? 0x1209)}`,
        `--pid ${hex(o.pid ?? 0x0ad0)}`,
        o.dfuPid ? `--dfu-pid ${hex(o.dfuPid)}` : "",
        `--memory ${o.memory ?? 65536}`,
        `--transfer ${o.transfer ?? 1024}`,
        o.dfuse !== undefined ? `--dfuse ${hex(o.dfuse)}` : "",
        o.noUpload ? "--no-upload" : "",
      ].join(" ");
      await guestSh(`
        d=/share/boards/${o.name}
        setsid dfu_board ${args} >>$d/log 2>&1 </dev/null &
        echo $! >$d/pid
        i=0
        until [ -s $d/status ] && dfu-util -l 2>/dev/null | grep -q 'serial="${
        o.serial ?? `BOARD-${o.name.toUpperCase()}`
      }"'; do
          i=$((i+1)); [ $i -lt 100 ] || { echo "board ${o.name} did not enumerate" >&2; exit 1; }
          sleep 0.1
        done`);
    },
    async stopBoard(name) {
      await guestSh(`
        d=/share/boards/${name}
        [ -s $d/pid ] || exit 0
        kill $(cat $d/pid) 2>/dev/null
        i=0
        while kill -0 $(cat $d/pid) 2>/dev/null; do
          i=$((i+1)); [ $i -lt 100 ] || kill -9 $(cat $d/pid); sleep 0.1
        done
        rm -f $d/pid`);
    },
    flash(name) {
      return readFlash(Deno.readFileSync(`${boardDir(name)}/flash.bin`));
    },
    boardLog(name) {
      try {
        return Deno.readTextFileSync(`${boardDir(name)}/log`);
      } catch {
        return "";
      }
    },
    status(name) {
      return Deno.readTextFileSync(`${boardDir(name)}/status`).trim();
    },
    setFaults(name, faults) {
      Deno.mkdirSync(boardDir(name), { recursive: true });
      Deno.writeTextFileSync(`${boardDir(name)}/faults`, faults.map((f) => `${f}\n`).join(""));
    },
    put(relative, data) {
      const path = `${share}/${relative}`;
      Deno.mkdirSync(path.replace(/\/[^/]*$/, ""), { recursive: true });
      if (typeof data === "string") Deno.writeTextFileSync(path, data);
      else Deno.writeFileSync(path, data);
      return `/share/${relative}`;
    },
    async close() {
      wakeIn.close();
      if (!exited) {
        try {
          qemu.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      await status;
      await drained.catch(() => {});
      await Deno.remove(share, { recursive: true }).catch(() => {});
    },
    async [Symbol.asyncDispose]() {
      await guest.close();
    },
  };
  return guest;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
