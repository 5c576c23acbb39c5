/**
 * liblmdb itself, through Debian's python3-lmdb, as the independent writer and reader that
 * ota's LMDB code is held against (Mender's clients link the same library). Each call runs
 * one python3 process; values travel as base64.
 */
import { Buffer } from "node:buffer";
import { run } from "./mod.ts";

export const PYTHON = "/usr/bin/python3";

export function pythonLmdbAvailable(): boolean {
  try {
    return new Deno.Command(PYTHON, { args: ["-c", "import lmdb"], stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** One write transaction: puts (value a string or bytes) and deletes (value null). */
export type Txn = Record<string, string | Uint8Array | null>;

const SCRIPT = `
import base64, json, sys, lmdb
spec = json.load(sys.stdin)
b = lambda s: base64.b64decode(s)
env = lmdb.open(spec["path"], subdir=False, map_size=spec.get("mapSize", 64 << 20), lock=spec.get("lock", True))
if spec["op"] == "write":
    for txn in spec["txns"]:
        with env.begin(write=True) as t:
            for k, v in txn:
                if v is None: t.delete(b(k))
                else: t.put(b(k), b(v))
elif spec["op"] == "loop":
    # a live writer: the same counter under two keys in one transaction, a value that grows
    for i in range(spec["count"]):
        with env.begin(write=True) as t:
            t.put(b"a", str(i).encode()); t.put(b"b", str(i).encode())
            t.put(b"grow", b"x" * ((i * 997) % 20000))
entries = []
with env.begin() as t:
    for k, v in t.cursor():
        entries.append([base64.b64encode(k).decode(), base64.b64encode(v).decode()])
info = env.info()
stat = env.stat()
print(json.dumps({"txnid": info["last_txnid"], "depth": stat["depth"], "branch": stat["branch_pages"],
    "overflow": stat["overflow_pages"], "entries": entries}))
`;

export interface PythonView {
  txnid: number;
  depth: number;
  branch: number;
  overflow: number;
  entries: [Uint8Array, Uint8Array][];
}

const b64 = (v: string | Uint8Array) => Buffer.from(v).toString("base64");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

async function python(spec: Record<string, unknown>): Promise<PythonView> {
  const result = await run([PYTHON, "-c", SCRIPT], { stdin: JSON.stringify(spec) });
  if (result.code !== 0) throw new Error(`python3-lmdb failed: ${result.stderr}`);
  const out = JSON.parse(result.stdout);
  return {
    ...out,
    entries: out.entries.map(([k, v]: [string, string]) => [unb64(k), unb64(v)]),
  };
}

/** Commits each transaction in turn with liblmdb (a new file if there is none). */
export function lmdbWrite(path: string, txns: Txn[]): Promise<PythonView> {
  return python({
    op: "write",
    path,
    txns: txns.map((txn) =>
      Object.entries(txn).map(([k, v]) => [b64(k), v === null ? null : b64(v)])
    ),
  });
}

/** What liblmdb reads in the file. */
export function lmdbRead(path: string): Promise<PythonView> {
  return python({ op: "read", path });
}

/** Starts a liblmdb writer that commits `count` transactions as fast as it can. */
export function lmdbWriterLoop(path: string, count: number): Promise<PythonView> {
  return python({ op: "loop", path, count });
}
