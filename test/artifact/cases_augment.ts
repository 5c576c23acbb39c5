/**
 * Broken augmented artifacts: ones the real `mender-artifact` wrote with --augment-*, edited
 * with Python's tarfile (test/helpers/artifact_edit.py). The augment (header-augment, its
 * files) is covered by manifest-augment, not by the signature; the signed seed keeps a valid
 * signature through every edit of its augment, so these are what a forger of the unsigned
 * part can do. Each case records what `mender-artifact validate` does with the same bytes:
 * "accepts" marks where ota is stricter on purpose (an augment may add to the signed header,
 * never change it).
 */
import type { BadCase } from "./case.ts";
import { sha256 } from "./craft.ts";
import { editArtifact, type EditOp } from "../helpers/artifact_edit.ts";
import type { Seeds } from "./seeds.ts";

type Case = Omit<BadCase, "bytes"> & { seed: Uint8Array; ops: EditOp[] };

const typeInfo = "headers/0000/type-info";
const inAugment = (member: string, path: string[], value: unknown): EditOp => ({
  op: "json",
  tar: "header-augment",
  member,
  path,
  value,
});

/** Point: nothing of the augment is used before manifest-augment's checksum of it matched. */
function checksums(s: Seeds): Case[] {
  const refused = (name: string, ops: EditOp[], code: string, phase: BadCase["phase"]) => ({
    name: `augment checksum: ${name}`,
    seed: s.augmentedSigned,
    ops,
    code,
    phase,
    verify: [s.keys.rsa],
    mender: "refuses" as const,
  });
  return [
    refused(
      "the header-augment changed, manifest-augment not",
      [inAugment(typeInfo, ["artifact_provides", "app.extra"], "1"), {
        op: "stale",
        member: "header-augment",
      }],
      "CHECKSUM_MISMATCH",
      "open",
    ),
    refused(
      "the augment's payload file changed, manifest-augment not",
      [{ op: "data-raw", name: "f2.bin", text: "not the delta" }],
      "CHECKSUM_MISMATCH",
      "payload",
    ),
    refused(
      "manifest-augment has no line for the header-augment",
      [{ op: "manifest", member: "manifest-augment", drop: ["header-augment.tar.gz"] }],
      "MANIFEST_MISMATCH",
      "open",
    ),
  ];
}

/** Point: the unsigned augment never changes what the signature vouches for. */
function overrides(s: Seeds): Case[] {
  const override = (name: string, ops: EditOp[], mender: "accepts" | "refuses" = "accepts") => ({
    name: `augment override: ${name}`,
    seed: s.augmentedSigned,
    ops,
    code: "AUGMENT_OVERRIDE",
    phase: "open" as const,
    verify: [s.keys.rsa],
    mender,
  });
  const meta = (text: string): EditOp => ({
    op: "raw",
    tar: "header-augment",
    member: "headers/0000/meta-data",
    text,
  });
  return [
    override("a signed provide gets another value", [
      inAugment(typeInfo, ["artifact_provides", "app.v"], "2"),
    ]),
    override("the software version provide mender-artifact wrote", [
      inAugment(typeInfo, ["artifact_provides", "rootfs-image.app-orig.version"], "forged"),
    ]),
    override("a signed depend gets another value", [
      inAugment(typeInfo, ["artifact_depends", "dep.k"], "other"),
    ]),
    override("a signed depend becomes a list", [
      inAugment(typeInfo, ["artifact_depends", "dep.k"], ["dv", "other"]),
    ]),
    override("clears_artifact_provides replaced by everything", [
      inAugment(typeInfo, ["clears_artifact_provides"], ["*"]),
    ]),
    override("a signed meta-data value", [meta('{"a":2}')]),
    override("a signed meta-data object nested value", [meta('{"b":{"c":3}}')]),
    override("a signed meta-data object made a number", [meta('{"b":5}')], "refuses"),
    override("the artifact name in the augment's header-info", [
      inAugment("header-info", ["artifact_provides", "artifact_name"], "other-1"),
    ]),
    override("the device types in the augment's header-info", [
      inAugment("header-info", ["artifact_depends", "device_type"], ["dev-a", "dev-b"]),
    ]),
  ];
}

/** Point: the augment's structure is as strict as mender-artifact's. */
function structure(s: Seeds): Case[] {
  const invalid = (name: string, ops: EditOp[], mender: "accepts" | "refuses" = "refuses") => ({
    name: `augment structure: ${name}`,
    seed: s.augmentedSigned,
    ops,
    code: "HEADER_INVALID",
    phase: "open" as const,
    verify: [s.keys.rsa],
    mender,
  });
  const type = (value: unknown) => inAugment("header-info", ["payloads", "0", "type"], value);
  return [
    invalid("a state script in the header-augment", [{
      op: "raw",
      tar: "header-augment",
      member: "scripts/ArtifactInstall_Enter_00_x",
      text: "#!/bin/sh\n",
      create: true,
    }]),
    invalid("an augment to an empty payload type", [type(null)]),
    invalid("a module payload augmented into a rootfs-image", [type("rootfs-image")]),
    invalid('type "" keeps the signed payload, yet the augment describes it', [type("")]),
  ];
}

/** Point: manifest-augment may not list what the signed manifest covers. */
function signedMembers(s: Seeds): Case[] {
  const listed = (name: string, digest: string) => ({
    name: `manifest-augment: lists ${name}, which the signed manifest covers`,
    seed: s.augmentedSigned,
    ops: [{
      op: "manifest" as const,
      member: "manifest-augment",
      add: [[name, digest]],
    }] as EditOp[],
    code: "MANIFEST_INVALID",
    phase: "open" as const,
    verify: [s.keys.rsa],
    mender: "refuses" as const,
  });
  const other = sha256(new TextEncoder().encode("forged"));
  return [
    listed("version", other),
    listed("header.tar.gz", other),
    listed("data/0000/f1.txt", other),
    {
      ...listed("manifest.sig", other),
      name: "manifest-augment: lists manifest.sig, which no manifest may cover",
    },
  ];
}

export async function augmentCases(s: Seeds): Promise<BadCase[]> {
  const cases = [...checksums(s), ...overrides(s), ...structure(s), ...signedMembers(s)];
  const edited: BadCase[] = [];
  for (const { seed, ops, ...c } of cases) {
    edited.push({ ...c, bytes: (await editArtifact(s.dir, seed, ops)).bytes });
  }
  return edited;
}
