/**
 * An idle daemon: `ota daemon` (dist/ota) and `mender daemon` (3.4) side by side, each on
 * its own managed test device against its own contract server (HTTPS), with nothing to
 * deploy, for some minutes. Measured from /proc: resident memory (sampled every 5 s) and CPU
 * time over the window after start-up; from the server's records: the bytes one poll sends.
 *
 *   deno task bench daemon [--minutes 10] [--poll 60] [--settle 30]
 *
 * --poll sets UpdatePollIntervalSeconds (Mender's default is 1800; a shorter one puts some
 * polls into the window); inventory stays at 28800 s, so only the first one is sent.
 */
import { contractServer, type Recorded } from "../test/managed/contract_server.ts";
import { type Client, managedDevice, startClient } from "../test/managed/fixture.ts";
import { makePki } from "../test/managed/tls.ts";
import { type Bench, type BenchOptions, flag, median, type Row, valueRow } from "./lib.ts";

const TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

/** Resident memory and CPU seconds of a process and its children (a shell may sit on top). */
function usage(pid: number): { rssMiB: number; cpuSeconds: number } {
  let rssMiB = 0;
  let cpuSeconds = 0;
  const visit = (p: number) => {
    try {
      const status = Deno.readTextFileSync(`/proc/${p}/status`);
      rssMiB += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      const stat = Deno.readTextFileSync(`/proc/${p}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      cpuSeconds += (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime
      const children = Deno.readTextFileSync(`/proc/${p}/task/${p}/children`).trim();
      for (const child of children.split(" ").filter(Boolean)) visit(Number(child));
    } catch {
      // gone between two reads
    }
  };
  visit(pid);
  return { rssMiB, cpuSeconds };
}

/** What a poll puts on the wire (HTTP/1.1, before TLS): request line, headers, body. */
function pollBytes(requests: Recorded[]): number | null {
  const poll = requests.filter((r) => r.path.endsWith("/next")).at(-1);
  if (!poll) return null;
  const head = `${poll.method} ${poll.path}${poll.query ? `?${poll.query}` : ""} HTTP/1.1\r\n` +
    Object.entries(poll.headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
  const chunked = poll.headers["transfer-encoding"] === "chunked";
  const body = poll.text.length +
    (chunked && poll.text ? poll.text.length.toString(16).length + 9 : 0);
  return new TextEncoder().encode(head).byteLength + body;
}

interface Idle {
  rss: number;
  rssMax: number;
  cpu: number;
  polls: number;
  bytes: number | null;
}

async function idle(
  client: Client,
  work: string,
  minutes: number,
  poll: number,
  settle: number,
): Promise<Idle> {
  const dir = `${work}/${client}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const pki = await makePki(dir);
  await using server = await contractServer({ tls: { cert: pki.serverCert, key: pki.serverKey } });
  const device = await managedDevice(`${dir}/dev`, {
    server,
    serverCertificate: pki.files.ca,
    config: { UpdatePollIntervalSeconds: poll, InventoryPollIntervalSeconds: 28800 },
  });
  await using daemon = startClient(device, client);
  await new Promise((resolve) => setTimeout(resolve, settle * 1000));
  const start = usage(daemon.pid).cpuSeconds;
  const rss: number[] = [];
  const end = Date.now() + minutes * 60_000;
  while (Date.now() < end) {
    rss.push(usage(daemon.pid).rssMiB);
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
  const cpu = usage(daemon.pid).cpuSeconds - start;
  await daemon.stop();
  return {
    rss: median(rss),
    rssMax: Math.max(...rss),
    cpu,
    polls: server.requests.filter((r) => r.path.endsWith("/next")).length,
    bytes: pollBytes(server.requests),
  };
}

function line(name: string, unit: string, ota: number, mender: number | null, note?: string): Row {
  const peaks = { ota: null, reference: null };
  return valueRow(name, unit, [ota], mender === null ? null : [mender], peaks, note);
}

async function run({ work, args }: BenchOptions): Promise<Row[]> {
  const minutes = Number(flag(args, "minutes", "10"));
  const poll = Number(flag(args, "poll", "60"));
  const settle = Number(flag(args, "settle", "30"));
  const [ota, mender] = await Promise.all([
    idle("ota", work, minutes, poll, settle),
    idle("mender", work, minutes, poll, settle),
  ]);
  const window = `${minutes} min after ${settle} s, poll every ${poll} s`;
  return [
    line("idle resident memory, median", "MiB", ota.rss, mender.rss, window),
    line("idle resident memory, highest", "MiB", ota.rssMax, mender.rssMax),
    line(
      "CPU time over the window",
      "s",
      ota.cpu,
      mender.cpu,
      `${ota.polls}/${mender.polls} polls`,
    ),
    line("bytes one poll sends (HTTP, before TLS)", "B", ota.bytes ?? 0, mender.bytes),
  ];
}

export const bench: Bench = {
  name: "daemon",
  description: "an idle `ota daemon` against `mender daemon` 3.4: memory, CPU, bytes per poll",
  run,
};
