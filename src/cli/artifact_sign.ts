/** `ota artifact sign`: add or replace the signature of an existing artifact. */
import { Command } from "commander";
import { signArtifact } from "../artifact/sign.ts";
import { loadSigningKey } from "./options.ts";
import { isMenderArtifact } from "./dialect.ts";

export function artifactSignCommand(): Command {
  return new Command("sign")
    .description("sign an artifact with an RSA or ECDSA P-256 private key (verifies it first)")
    .argument("<artifact>", "the .mender file")
    .requiredOption("-k, --key <file>", "PEM private key")
    .option(
      "-o, --output-path <file>",
      "write the signed artifact here (default: replace the input)",
    )
    .option("-f, --force", "replace an existing signature")
    .addHelpText(
      "after",
      `
Examples:
  openssl genrsa -traditional -out signing.key 3072 && openssl rsa -in signing.key -pubout -out verify.pem
  ota artifact sign -k signing.key release-2.mender
  ota artifact sign -k ecdsa.key -o release-2.signed.mender release-2.mender`,
    )
    .action(async (path: string, o: { key: string; outputPath?: string; force?: boolean }) => {
      await signArtifact(path, o.outputPath ?? path, loadSigningKey(o.key), { force: o.force });
      if (!isMenderArtifact()) console.log(`Signed ${o.outputPath ?? path}`);
    });
}
