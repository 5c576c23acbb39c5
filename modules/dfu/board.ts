/**
 * The board on the bus: find exactly one, move it between run-time and DFU mode, read and
 * write its flash, and wait (bounded) for it to come back after each change.
 */
import { promises as fs } from "node:fs";
import { fail, isOtaError } from "../../src/errors.ts";
import { boardInterfaces, type DfuUtil, type Interface, selectArgs } from "./dfu_util.ts";
import type { Board, Gateway } from "./settings.ts";

export interface Found {
  /** The interface that matches the configured alt setting (DFU mode) or the run-time one. */
  iface: Interface;
  /** All interfaces of this board (one per alt setting in DFU mode). */
  all: Interface[];
}

export interface BoardOps {
  /** The one board that matches, or undefined when none is on the bus. */
  find(): Promise<Found | undefined>;
  /** find(), failing with DFU_NO_DEVICE when the board is absent. */
  require(): Promise<Found>;
  /** Waits until the board shows in `mode` ("any": either); undefined after the timeout. */
  waitFor(
    mode: "runtime" | "dfu" | "any",
    seconds?: number,
    settle?: number,
  ): Promise<Found | undefined>;
  /** Puts the board into DFU mode (DFU_DETACH when it runs its application). */
  enterDfu(): Promise<Found>;
  /** USB reset of a board in DFU mode, so that it boots its application. */
  reset(found: Found): Promise<void>;
  upload(found: Found, file: string, size?: number): Promise<boolean>;
  download(found: Found, file: string): Promise<void>;
}

export function boardOps(
  board: Board,
  gateway: Gateway,
  dfu: DfuUtil,
  log: (m: string) => void,
): BoardOps {
  const describe = () =>
    `${board.runtimeId}${board.dfuId !== board.runtimeId ? ` (DFU mode ${board.dfuId})` : ""}` +
    (board.serial ? ` with serial "${board.serial}"` : "");

  const find = async (): Promise<Found | undefined> => {
    const mine = boardInterfaces(await dfu.list(), board);
    if (mine.length === 0) return undefined;
    const paths = [...new Set(mine.map((i) => i.path))];
    if (paths.length > 1) {
      const serials = [...new Set(mine.map((i) => i.serial))].join(", ");
      fail(
        "DFU_AMBIGUOUS_DEVICE",
        `${paths.length} boards match ${describe()} (serials: ${serials}); ` +
          `add "serial" to the artifact's meta-data to choose one`,
      );
    }
    const all = mine.filter((i) => i.path === paths[0]);
    const iface = all[0]?.mode === "runtime"
      ? all[0]
      : all.find((i) => typeof board.alt === "number" ? i.alt === board.alt : i.name === board.alt);
    if (!iface) {
      fail(
        "DFU_ALT",
        `the board has no alternate setting ${JSON.stringify(board.alt)} ` +
          `(it has: ${all.map((i) => `${i.alt} "${i.name}"`).join(", ")})`,
      );
    }
    return { iface, all };
  };

  const waitFor = async (
    mode: "runtime" | "dfu" | "any",
    seconds = gateway.enumerationTimeout,
    settle?: number,
  ) => {
    const deadline = Date.now() + seconds * 1000;
    let otherSince: number | undefined;
    for (;;) {
      const found = await find();
      if (found && (mode === "any" || found.iface.mode === mode)) return found;
      // A board that sits in the other mode for `settle` seconds will not change by itself.
      if (found) otherSince ??= Date.now();
      else otherSince = undefined;
      const settled = settle !== undefined && otherSince !== undefined &&
        Date.now() - otherSince >= settle * 1000;
      if (Date.now() >= deadline || settled) return undefined;
      await new Promise((r) => setTimeout(r, 300));
    }
  };

  const require = async () => {
    const found = await find();
    if (!found) {
      fail(
        "DFU_NO_DEVICE",
        `no DFU board ${describe()} is on the USB bus; check the cable and the meta-data`,
      );
    }
    return found;
  };

  const alt = () => ["-a", String(board.alt)];

  return {
    find,
    require,
    waitFor,
    async enterDfu() {
      const found = await require();
      if (found.iface.mode === "dfu") return found;
      log(`detaching the board from its application (running "${found.iface.name}")`);
      // dfu-util exits 74 when the board drops off before it answers: that is the detach.
      await dfu.call(
        "detach",
        ["-e", ...selectArgs(board, found.iface)],
        (_o, c) => c === 0 || c === 74,
      );
      const back = await waitFor("dfu");
      if (!back) {
        fail(
          "DFU_NO_DEVICE",
          `the board did not come back in DFU mode within ${gateway.enumerationTimeout} s ` +
            `after DFU_DETACH`,
        );
      }
      return back;
    },
    async reset(found) {
      if (found.iface.mode !== "dfu") return;
      // -e -R on a board in DFU mode: the detach is refused, the USB reset boots the board.
      await dfu.call("reset", ["-e", "-R", ...selectArgs(board, found.iface)], () => true);
    },
    async upload(found, file, size) {
      await fs.rm(file, { force: true });
      const args = [...selectArgs(board, found.iface), ...alt(), ...transfer(board)];
      if (board.dfuseAddress !== undefined) {
        const length = size ?? layoutSize(found.iface.name, board.dfuseAddress);
        if (length === undefined) return false;
        args.push("-s", `0x${board.dfuseAddress.toString(16)}:${length}`);
      }
      try {
        await dfu.call("upload", [...args, "-U", file]);
        return (await fs.stat(file)).size > 0;
      } catch (error) {
        log(`upload not possible: ${(error as Error).message}`);
        await fs.rm(file, { force: true });
        return false;
      }
    },
    async download(found, file) {
      const args = [...selectArgs(board, found.iface), ...alt(), ...transfer(board)];
      if (board.dfuseAddress !== undefined) {
        args.push("-s", `0x${board.dfuseAddress.toString(16)}:leave`);
      } else {
        args.push("-R");
      }
      // After a good download the reset makes the board re-enumerate as its application;
      // dfu-util 0.11 then reports LIBUSB_ERROR_NOT_FOUND (exit 251) although all went well.
      try {
        await dfu.call("download", [...args, "-D", file], (out, code) =>
          code === 0 ||
          (code === 251 && /(^|\n)Done!|File downloaded successfully/.test(out)));
      } catch (error) {
        // dfu-util does not always say that the board went away: look for it.
        if (isOtaError(error, "DFU_UTIL_FAILED") && !(await find())) {
          fail("DFU_DEVICE_LOST", `the board went away during the download (${error.message})`);
        }
        throw error;
      }
    },
  };
}

function transfer(board: Board): string[] {
  return board.transferSize ? ["-t", String(board.transferSize)] : [];
}

/**
 * The size of the memory segment that holds `address`, from a DfuSe layout in an alt
 * setting's name, e.g. "@Internal Flash  /0x08000000/64*001Kg" (64 pages of 1 KiB).
 * Undefined when the name carries no layout.
 */
export function layoutSize(name: string, address: number): number | undefined {
  const segment = layoutSegments(name).find((s) => address >= s.start && address < s.end);
  return segment ? segment.end - address : undefined;
}

export function layoutSegments(name: string): { start: number; end: number }[] {
  const m = /^@[^/]*((?:\/0x[0-9a-fA-F]+\/[^/]+)+)/.exec(name.trim());
  if (!m) return [];
  const out: { start: number; end: number }[] = [];
  const parts = m[1]!.split("/").filter(Boolean); // group 1 always takes part in a match
  for (let i = 0; i + 1 < parts.length; i += 2) {
    let at = Number(parts[i]);
    for (const group of parts[i + 1]!.split(",")) {
      const g = /^(\d+)\*(\d+)\s*([BKM ]?)/.exec(group.trim());
      if (!g) break;
      const unit = g[3] === "K" ? 1024 : g[3] === "M" ? 1024 * 1024 : 1;
      const length = Number(g[1]) * Number(g[2]) * unit;
      out.push({ start: at, end: at + length });
      at += length;
    }
  }
  // Adjacent groups form one region for our purpose (a write may span pages of both).
  out.sort((a, b) => a.start - b.start);
  const merged: { start: number; end: number }[] = [];
  for (const s of out) {
    const last = merged[merged.length - 1];
    if (last && last.end === s.start) last.end = s.end;
    else merged.push({ ...s });
  }
  return merged;
}
