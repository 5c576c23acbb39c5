/**
 * What the serve benchmark's two parts share: shell commands, the resident memory of a
 * process tree sampled while work runs, waiting for a server, and the artifact they serve.
 */
import { readFileSync } from "node:fs";
import { otaArtifact, type Row, valueRow } from "./lib.ts";

/** A row whose unit is not seconds (MiB/s): above 1 is better there. Every run is kept. */
export function result(
  name: string,
  unit: string,
  ota: number[],
  reference: number[],
  peak: { ota: number; reference: number },
  note?: string,
): Row {
  return valueRow(name, unit, ota, reference, peak, note);
}

export async function sh(cmd: string[], quiet = false): Promise<string> {
  if (cmd[0] === undefined) throw new Error("an empty command line");
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stderr: "piped",
    stdout: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0 && !quiet) {
    throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** Resident memory (KiB) of a process and its children, from /proc. */
function rssKiB(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch { /* exited */ }
  }
  return total;
}

export function childrenOf(pid: number): number[] {
  try {
    const tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return tasks ? tasks.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}

/** Samples the peak RSS of `pids()` every 50 ms while `work` runs. */
export async function peakDuring<T>(pids: () => number[], work: () => Promise<T>) {
  let peak = rssKiB(pids());
  const timer = setInterval(() => peak = Math.max(peak, rssKiB(pids())), 50);
  try {
    const value = await work();
    return { value, peakMiB: Math.max(peak, rssKiB(pids())) / 1024 };
  } finally {
    clearInterval(timer);
  }
}

/** Polls `url` until `check` accepts its body (for HEAD: its status). */
export async function waitFor(url: string, check: (body: string) => boolean, method = "GET") {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const body = await fetch(url, { method })
      .then(async (r) => method === "HEAD" ? String(r.status) : await r.text())
      .catch(() => "");
    if (check(body)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} never became ready`);
}

export async function makeArtifact(dir: string, sizeMiB: number): Promise<string> {
  const image = `${dir}/image.bin`;
  await sh(["dd", "if=/dev/urandom", `of=${image}`, "bs=1M", `count=${sizeMiB}`, "status=none"]);
  const artifact = otaArtifact(`${dir}/release-2.mender`, {
    name: "release-2",
    file: image,
    compression: "none",
  });
  await Deno.remove(image);
  return artifact;
}
