/** `ota peers`: what the servers on the local network offer, and what fits this device. */
import { promises as fs } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { Command } from "commander";
import type { DeviceLocations } from "../device/defaults.ts";
import { readIdentity } from "../device/identity.ts";
import type { DeviceIdentity } from "../device/provides.ts";
import { fail } from "../errors.ts";
import { chooseOffer, collectOffers, type Offer } from "../peers/choose.ts";
import { fetchOffer, safeFileName } from "../peers/fetch.ts";
import { sameFileElsewhere } from "../peers/install_source.ts";
import type { FindOptions } from "../peers/find.ts";
import { findPeers } from "../peers/find.ts";
import type { Peer } from "../peers/listings.ts";
import { addLocationOptions, locate } from "./device_options.ts";
import { collect, loadVerifyKeys, parseSize, readFileOrFail } from "./options.ts";
import { createProgress, type ProgressMode } from "./progress.ts";
import { readToken } from "./serve.ts";

interface PeerOptions extends DeviceLocations {
  deviceType?: string;
  deviceTypeFile?: string;
  peer?: string[];
  wait: string;
  token?: string;
  tokenFile?: string;
  ca?: string;
  mdnsInterface?: string;
}

function withPeerOptions(command: Command): Command {
  return addLocationOptions(command)
    .option("--device-type <type>", "this device's type (default: from the device_type file)")
    .option(
      "--device-type-file <file>",
      "Mender's device_type file (default: DeviceTypeFile, or DATA/device_type)",
    )
    .option("--peer <url>", "also ask this server, e.g. http://10.0.0.1:8080 (repeatable)", collect)
    .option("--wait <seconds>", "listen this long for mDNS answers (0: only --peer)", "2")
    .option("--token <token>", "token the servers require (ota serve --token)")
    .option("--token-file <file>", "like --token, read from a file")
    .option("--ca <file>", "trust this PEM certificate for https peers (their own cert)")
    .option("--mdns-interface <address>", "discover on the interface with this IPv4 address");
}

function findOptions(o: PeerOptions): FindOptions {
  return {
    urls: o.peer,
    discoverMs: Number(o.wait) * 1000,
    interfaceAddress: o.mdnsInterface,
    token: readToken(o),
    ca: o.ca ? new TextDecoder().decode(readFileOrFail(o.ca, "the CA certificate")) : undefined,
  };
}

async function discover(o: PeerOptions): Promise<{ device: DeviceIdentity; peers: Peer[] }> {
  const wait = Number(o.wait);
  if (!Number.isFinite(wait) || wait < 0 || wait > 60) {
    fail("BAD_ARGUMENTS", `--wait takes seconds from 0 to 60, not ${o.wait}`);
  }
  // the same identity as `ota install` reads (src/device/identity.ts), from the same places
  const { paths } = await locate(o);
  const device = await readIdentity(
    o.deviceTypeFile ? { ...paths, deviceTypeFile: o.deviceTypeFile } : paths,
    { deviceType: o.deviceType },
  );
  const peers = await findPeers(findOptions(o));
  if (peers.length === 0) {
    fail(
      "PEER_NONE",
      `no ota server answered within ${wait} s; check that one runs ('ota serve DIR') on this network, or give --peer URL`,
    );
  }
  return { device, peers };
}

function human(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

function table(rows: string[][]): string {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from(
    { length: columns },
    (_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)),
  );
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd()).join(
    "\n",
  );
}

function printPeers(device: DeviceIdentity, peers: Peer[], offers: Offer[]): void {
  const out: string[] = [`Peers (${peers.length}):`];
  for (const peer of peers) {
    const listed = peer.listing?.artifacts ?? [];
    const invalid = listed.filter((a) => !a.valid).length;
    out.push(
      `  ${peer.name}  ${peer.base}  ${
        peer.listing
          ? `${listed.length - invalid} artifact(s)${invalid ? `, ${invalid} invalid` : ""}${
            peer.listing.pending ? `, ${peer.listing.pending} being verified` : ""
          }`
          : `unreachable: ${peer.error}`
      }`,
    );
  }
  const fit = offers.filter((o) => o.reasons.length === 0).length;
  out.push("", `Artifacts for device type ${device.deviceType} (${fit} of ${offers.length} fit):`);
  if (offers.length) {
    const rows = [["FITS", "ARTIFACT", "FILE", "SIZE", "PEERS", "SIGNED", "WHY NOT"]];
    for (const o of offers) {
      rows.push([
        o.reasons.length ? "no" : "yes",
        o.artifact.name,
        o.file,
        human(o.size),
        String(o.urls.length),
        o.artifact.signatureVerified ? "verified" : o.artifact.signed ? "yes" : "no",
        o.reasons.join("; "),
      ]);
    }
    out.push(table(rows).replace(/^/gm, "  "));
  }
  if (fit) out.push("", "Fetch one with: ota peers fetch [ARTIFACT] -o DIR");
  process.stdout.write(`${out.join("\n")}\n`);
}

export function peersCommand(progressMode: () => ProgressMode): Command {
  const peers = withPeerOptions(
    new Command("peers")
      .description(
        "list the ota servers on the local network and the artifacts that fit this device",
      )
      .option("--json", "print peers and offers as JSON"),
  )
    .addHelpText(
      "after",
      `
Servers announce themselves with mDNS (_ota._tcp); each is asked for its list of verified
artifacts, and every artifact is checked against this device's type and what it provides,
read as 'ota install' reads them (mender.conf, --data, artifact_info, MENDER_CONF_DIR and
MENDER_DATA_DIR). A peer is never trusted: what is fetched is verified again.

Examples:
  ota peers                                         what the network offers this device
  ota peers --device-type raspberrypi4 --json       for another device type, for scripts
  ota peers --peer http://10.0.0.1:8080 --wait 0    no multicast: ask one server directly
  ota peers fetch -o /srv/updates                   fetch the one fitting artifact (verified)
  ota peers fetch release-2 -o /srv/updates && ota serve /srv/updates    pass it on`,
    )
    .action(async (o: PeerOptions & { json?: boolean }) => {
      const { device, peers: found } = await discover(o);
      const offers = collectOffers(found, device);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ device, peers: found, offers }, null, 2)}\n`);
      } else printPeers(device, found, offers);
    });

  // `peers fetch` shares the options above (they are read with optsWithGlobals).
  peers.addCommand(
    (new Command("fetch")
      .description(
        "download a fitting artifact from the peers (resumed, verified) into a file or dir",
      )
      .argument("[artifact]", "artifact name or file name (default: the one that fits)")
      .option("-o, --output <path>", "directory (or file path) to write to", ".")
      .option("-k, --key <file>", "require a signature by this key (repeatable)", collect)
      .option(
        "--max-dir-bytes <size>",
        "refuse if the directory would then hold more (e.g. 8GiB)",
      )
      .configureHelp({ showGlobalOptions: true }))
      .addHelpText(
        "after",
        `
The file is written as .NAME.part and renamed only after its SHA-256 and every checksum
inside matched, so 'ota serve' on the same directory passes it on only when complete.
A broken transfer resumes (Range) from the same peer or another holding the same bytes.

Examples:
  ota peers fetch -o /data/updates
  ota peers fetch release-2 -o /data/updates/release-2.mender -k verify.pem`,
      )
      .action(
        async (name: string | undefined, _: unknown, command: Command) => {
          const o = command.optsWithGlobals<
            PeerOptions & { output: string; key?: string[]; maxDirBytes?: string }
          >();
          const { device, peers: found } = await discover(o);
          const offer = chooseOffer(collectOffers(found, device), device, name);
          const isDir = await fs.stat(o.output).then((s) => s.isDirectory()).catch(() => false);
          const target = isDir ? join(o.output, safeFileName(offer.file)) : o.output;
          const progress = createProgress(progressMode());
          progress.step("download", offer.size);
          const result = await fetchOffer(offer, target, {
            token: readToken(o),
            ca: o.ca
              ? new TextDecoder().decode(readFileOrFail(o.ca, "the CA certificate"))
              : undefined,
            verifyKeys: o.key?.length ? loadVerifyKeys(o.key) : undefined,
            maxDirBytes: o.maxDirBytes ? parseSize(o.maxDirBytes) : undefined,
            onProgress: (n) => progress.update(n),
            onEvent: (message) => process.stderr.write(`ota: ${message}\n`),
            refresh: () => sameFileElsewhere(offer.sha256, device, findOptions(o)),
          });
          progress.done();
          process.stdout.write(
            `Fetched ${offer.artifact.name} to ${result.path} (${offer.size} bytes, sha256 ${offer.sha256}) from ${
              result.peers.join(", ")
            }\n`,
          );
        },
      ),
  );
  return peers;
}
