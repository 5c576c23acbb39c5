/**
 * Mutations of a good artifact for fuzzing: first at most one change to its members (swap,
 * duplicate, drop; an edit of one member's stored bytes with the tar kept valid; an edit of
 * the decompressed header or payload tar, recompressed, with the manifest updated so the
 * reader gets past the checksum), then up to three byte edits of the whole (flip, truncate,
 * insert, remove). Positions lean towards the first 4 KiB, where most structure lives.
 */
import fc from "fast-check";
import { decompress, splitCompressedName } from "../../src/artifact/compression.ts";
import { defaultLimits } from "../../src/artifact/limits.ts";
import { concat, readAll } from "../../src/streams.ts";
import { bytes, compressed, members, pack, replaceMember, sha256 } from "./craft.ts";
import { at } from "../helpers/assert.ts";

export type MemberEdit =
  | { kind: "swap"; i: number; j: number }
  | { kind: "duplicate"; i: number }
  | { kind: "drop"; i: number }
  | { kind: "body"; i: number; edit: ByteEdit }
  | { kind: "inner"; what: "header" | "data"; edit: ByteEdit };

export type ByteEdit =
  | { kind: "flip"; at: number; mask: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; data: Uint8Array }
  | { kind: "remove"; at: number; length: number };

export interface Mutation {
  member?: MemberEdit;
  bytes: ByteEdit[];
}

const position = fc.oneof(fc.nat({ max: 4095 }), fc.nat());
const index = fc.nat({ max: 7 });

const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("flip" as const),
      at: position,
      mask: fc.integer({ min: 1, max: 255 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: position }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("insert" as const),
      at: position,
      data: fc.uint8Array({ minLength: 1, maxLength: 600 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("remove" as const),
      at: position,
      length: fc.integer({ min: 1, max: 600 }),
    }),
  },
);

const memberEdit: fc.Arbitrary<MemberEdit> = fc.oneof(
  fc.record({ kind: fc.constant("swap" as const), i: index, j: index }),
  fc.record({ kind: fc.constant("duplicate" as const), i: index }),
  fc.record({ kind: fc.constant("drop" as const), i: index }),
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("body" as const), i: index, edit: byteEdit }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("inner" as const),
      what: fc.constantFrom("header" as const, "data" as const),
      edit: byteEdit,
    }),
  },
);

export const mutation: fc.Arbitrary<Mutation> = fc.record({
  member: fc.option(memberEdit, { nil: undefined, freq: 3 }),
  bytes: fc.array(byteEdit, { minLength: 0, maxLength: 3 }),
}).filter((m) => m.member !== undefined || m.bytes.length > 0);

/** Edits the decompressed header or payload tar and stores it again, manifest updated. */
async function editInner(artifact: Uint8Array, what: string, edit: ByteEdit): Promise<Uint8Array> {
  let list = members(artifact);
  const member = list.find((m) => splitCompressedName(m.name)?.base.startsWith(what));
  if (!member) return artifact;
  const { compression } = splitCompressedName(member.name)!;
  const stream = decompress(
    new Blob([member.body as BlobPart]).stream(),
    compression,
    defaultLimits,
  );
  const inner = editBytes(await readAll(stream, 1 << 26, member.name), edit);
  const stored = await compressed(inner, compression);
  const manifest = new TextDecoder().decode(list.find((m) => m.name === "manifest")!.body);
  const lines = manifest.split("\n").map((line) =>
    line.endsWith(`  ${member.name}`) ? `${sha256(stored)}  ${member.name}` : line
  );
  list = replaceMember(list, "manifest", bytes(lines.join("\n")));
  return pack(replaceMember(list, member.name, stored));
}

async function editMembers(artifact: Uint8Array, edit: MemberEdit): Promise<Uint8Array> {
  if (edit.kind === "inner") return await editInner(artifact, edit.what, edit.edit);
  const list = members(artifact);
  const index = (i: number) => i % list.length;
  const member = (i: number) => at(list, index(i), "the artifact's members");
  switch (edit.kind) {
    case "body": {
      const { name, body } = member(edit.i);
      list[index(edit.i)] = { name, body: editBytes(body, edit.edit) };
      return pack(list);
    }
    case "swap": {
      const [a, b] = [member(edit.i), member(edit.j)];
      list[index(edit.i)] = b;
      list[index(edit.j)] = a;
      return pack(list);
    }
    case "duplicate":
      list.splice(index(edit.i), 0, member(edit.i));
      return pack(list);
    case "drop":
      list.splice(index(edit.i), 1);
      return pack(list);
  }
}

function editBytes(data: Uint8Array, edit: ByteEdit): Uint8Array {
  const at = edit.at % (data.byteLength + 1);
  switch (edit.kind) {
    case "flip": {
      if (at >= data.byteLength) return data;
      const copy = data.slice();
      copy[at] = data[at]! ^ edit.mask; // at < data.byteLength, checked above
      return copy;
    }
    case "truncate":
      return data.slice(0, at);
    case "insert":
      return concat([data.subarray(0, at), edit.data, data.subarray(at)]);
    case "remove":
      return concat([data.subarray(0, at), data.subarray(at + edit.length)]);
  }
}

export async function applyMutation(seed: Uint8Array, m: Mutation): Promise<Uint8Array> {
  let out = m.member ? await editMembers(seed, m.member) : seed;
  for (const edit of m.bytes) out = editBytes(out, edit);
  return out;
}
