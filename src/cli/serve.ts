/** `ota serve DIR`: offer the artifacts of a directory to peers on the local network. */
import process from "node:process";
import { Command, Option } from "commander";
import { fail } from "../errors.ts";
import { startServer } from "../server/run.ts";
import { collect, loadVerifyKeys, readFileOrFail } from "./options.ts";

interface ServeOptions {
  host: string;
  port: string;
  tlsCert?: string;
  tlsKey?: string;
  token?: string;
  tokenFile?: string;
  key?: string[];
  name?: string;
  maxTransfers: string;
  rescan: string;
  announce: boolean;
  mdnsInterface?: string;
}

function positiveInt(value: string, flag: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > 65535 * 16) {
    fail("BAD_ARGUMENTS", `${flag} takes a whole number, not ${JSON.stringify(value)}`);
  }
  return n;
}

/** The token from --token or --token-file (the file keeps it out of `ps`). */
export function readToken(o: { token?: string; tokenFile?: string }): string | undefined {
  if (o.token !== undefined && o.tokenFile !== undefined) {
    fail("BAD_ARGUMENTS", "give --token or --token-file, not both");
  }
  const token = o.tokenFile !== undefined
    ? new TextDecoder().decode(readFileOrFail(o.tokenFile, "the token file")).trim()
    : o.token;
  if (token !== undefined && !/^[\x21-\x7e]{8,512}$/.test(token)) {
    fail("BAD_ARGUMENTS", "the token must be 8 to 512 printable characters without spaces");
  }
  return token;
}

export function serveCommand(): Command {
  return new Command("serve")
    .description(
      "serve the artifacts of a directory to other devices on the local network (HTTP, mDNS)",
    )
    .argument("<dir>", "directory holding .mender files (read only; rescanned when it changes)")
    .option("--host <address>", "address to listen on", "0.0.0.0")
    .option("-p, --port <port>", "port to listen on (0: any free port)", "8080")
    .option("--tls-cert <file>", "serve HTTPS with this PEM certificate (chain)")
    .option("--tls-key <file>", "the PEM private key of --tls-cert")
    .option("--token <token>", "require 'Authorization: Bearer <token>' on every request")
    .option("--token-file <file>", "like --token, read from a file (not visible in ps)")
    .option(
      "-k, --key <file>",
      "list as valid only artifacts signed by this key (repeatable)",
      collect,
    )
    .option("--name <text>", "name shown to peers and in the page (default: ota on <hostname>)")
    .option("--max-transfers <n>", "downloads at once; more are told to retry (503)", "64")
    .option("--rescan <seconds>", "rescan the directory at least this often", "2")
    .option("--no-announce", "do not announce the server with mDNS")
    .addOption(
      new Option(
        "--mdns-interface <address>",
        "announce only on the interface with this IPv4 address",
      ),
    )
    .addHelpText(
      "after",
      `
Every .mender file at the top of DIR is verified completely (every checksum, and the
signature with -k) before it is listed, and the server listens once those in DIR at the
start are; a corrupt file is listed as invalid and never offered. Files still being copied
are listed once they stop changing (503 until then); a file that changes while it is sent
breaks the transfer off. Hidden files, subdirectories and symlinks leading out of DIR are
never served.

  GET /artifacts             the list as JSON (a browser gets a page: also / and /artifacts.html)
  GET /artifacts/NAME        the file, with Range (resume), ETag (its SHA-256), If-None-Match

Examples:
  ota serve /srv/updates                          serve on port 8080, announced on the LAN
  ota serve --port 9000 --token-file token.txt ./releases
  ota serve --tls-cert cert.pem --tls-key key.pem -k verify.pem /srv/updates
  ota serve --host 10.0.0.1 --mdns-interface 10.0.0.1 ./out      one interface only
  curl http://laptop.local:8080/artifacts                          what is offered
  ota peers                                                        on a device: what fits it`,
    )
    .action(async (dir: string, o: ServeOptions) => {
      if (!!o.tlsCert !== !!o.tlsKey) fail("BAD_ARGUMENTS", "--tls-cert and --tls-key go together");
      const tls = o.tlsCert && o.tlsKey
        ? {
          cert: new TextDecoder().decode(readFileOrFail(o.tlsCert, "the TLS certificate")),
          key: new TextDecoder().decode(readFileOrFail(o.tlsKey, "the TLS key")),
        }
        : undefined;
      const log = (line: string) => process.stdout.write(`${line}\n`);
      const server = await startServer({
        dir,
        host: o.host,
        port: positiveInt(o.port, "--port", 0),
        tls,
        token: readToken(o),
        verifyKeys: o.key?.length ? loadVerifyKeys(o.key) : undefined,
        name: o.name,
        maxTransfers: positiveInt(o.maxTransfers, "--max-transfers"),
        rescanMs: positiveInt(o.rescan, "--rescan") * 1000,
        announce: o.announce,
        mdnsInterface: o.mdnsInterface,
        log,
      });
      log(`serving ${dir} on ${server.url}/artifacts (Ctrl-C stops)`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          server.close().finally(resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
