/**
 * Unusual but harmless artifacts the reader must accept: tar extensions other writers use
 * (PAX `x` and `g` headers, GNU long names), GNU tar's zero padding to a whole record,
 * directory entries in the header, a signature when no key is configured.
 */
import type { GoodCase } from "./case.ts";
import {
  bytes,
  craft,
  defaultHeaderInfo as info,
  defaultTypeInfo as typeInfo,
  gnuLongName,
  json,
  members,
  pack,
  paxEntry,
  tarEntry,
} from "./craft.ts";
import type { Seeds } from "./seeds.ts";
import { concat } from "../../src/streams.ts";
import { at } from "../helpers/assert.ts";

const rootfs = { name: "rootfs.img", body: bytes("a small root fs\n") };

export async function goodCases(s: Seeds): Promise<GoodCase[]> {
  const seed = members(s.gzip);
  const image = { name: "rootfs.img", body: s.image };
  const outer = (...parts: Uint8Array[]) => concat([...parts, new Uint8Array(1024)]);
  const entry = (i: number) => tarEntry(at(seed, i).name, at(seed, i).body);
  const longName = `${"l".repeat(150)}.bin`;
  return [
    {
      name: "outer tar: a PAX global header first, PAX x headers before members",
      bytes: outer(
        paxEntry({ comment: "made by another tar" }, true),
        paxEntry({ mtime: "1700000000.5", path: "version" }),
        entry(0),
        entry(1),
        paxEntry({ uname: "builder", gname: "builder" }),
        entry(2),
        entry(3),
      ),
      files: [image],
    },
    {
      name: "outer tar: a GNU long name for the data member",
      bytes: outer(entry(0), entry(1), entry(2), gnuLongName(at(seed, 3).name), entry(3)),
      files: [image],
    },
    {
      name: "outer tar: zero padding to a whole 10 KiB record after the end blocks",
      bytes: concat([pack(seed), new Uint8Array(10240 - (pack(seed).byteLength % 10240))]),
      files: [image],
    },
    {
      name: "payload: a 154-character file name through a PAX header",
      bytes: await craft({
        files: [{ name: longName, body: bytes("long\n") }],
        dataEntries: [paxEntry({ path: longName }), tarEntry("placeholder", bytes("long\n"))],
      }),
      files: [{ name: longName, body: bytes("long\n") }],
    },
    {
      name: "header: a state script named through a GNU long name, directory entries",
      bytes: await craft({
        headerEntries: [
          tarEntry("header-info", json(info)),
          tarEntry({ name: "scripts/", type: "5" }),
          gnuLongName(`scripts/ArtifactInstall_Enter_00_${"n".repeat(100)}`),
          tarEntry("scripts/x", bytes("#!/bin/sh\n")),
          tarEntry({ name: "headers/", type: "5" }),
          tarEntry("headers/0000/type-info", json(typeInfo)),
        ],
      }),
      files: [rootfs],
    },
    {
      name: "meta-data nested 20 levels deep",
      bytes: await craft({ metaData: bytes(`{"a":${"[".repeat(19)}1${"]".repeat(19)}}`) }),
      files: [rootfs],
    },
    {
      name: "signature: present, no key configured (not verified, accepted)",
      bytes: s.gzipSigned,
      files: [image],
    },
    {
      name: "signature: ECDSA signed by mender-artifact, verified",
      bytes: s.gzipEc,
      verify: [s.keys.ec],
      files: [image],
    },
    {
      name: "signature: any of several keys verifies",
      bytes: s.gzipSigned,
      verify: [s.keys.other, s.keys.ec, s.keys.rsa],
      files: [image],
    },
  ];
}
