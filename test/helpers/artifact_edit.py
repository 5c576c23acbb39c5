#!/usr/bin/env python3
"""Edits a Mender Artifact with Python's tarfile, independently of ota's own tar code.

Reads a JSON request on stdin: {"input": path, "output": path, "ops": [...]}, applies the
operations in order to the artifact's members, its header tar and its payload tar, and
writes the result with the manifest's checksums brought up to date (the header's always;
a payload file's when an operation says so). Prints a JSON summary on stdout: the data
entries' stored and expanded sha256, for the caller's assertions.

Operations ("tar": "header-augment" makes json and raw edit the header-augment tar instead):
  {"op": "json", "member": "headers/0000/type-info", "path": [...], "value": v}
      set (or with "delete": true remove) a value inside a JSON file of the header tar
  {"op": "raw", "member": "headers/0000/meta-data", "text": "...", "create": false}
      replace a header file's bytes (with "create": true, add the file at the end)
  {"op": "stale", "member": "header-augment"}
      leave manifest-augment's checksum of the header-augment as it was
  {"op": "data-raw", "name": "f2.bin", "text": "..."}
      replace a payload file's bytes, its manifest line unchanged
  {"op": "typeflag", "where": "outer"|"header"|"data", "member": name, "typeflag": "M"}
      store an entry with another tar type flag, bytes unchanged
  {"op": "sparse", "where": ..., "member": name, "format": "gnu"|"pax-0.0"|"pax-0.1"|"pax-1.0",
   "checksum": "expanded"|"stored"}
      store an entry as a sparse file whose expansion is its content; zero 512-byte
      blocks become holes. For a data file the manifest keeps the content's checksum
      ("expanded", what mender-artifact checks) or gets the stored bytes' ("stored")
  {"op": "manifest", "member": "manifest"|"manifest-augment", "add": [[name, sha]], "drop": [name]}
  {"op": "data-add", "name": "x.bin", "text": "abc", "listed": true}
      add a file to the payload tar (and its line to the manifest when listed)
  {"op": "outer-add", "name": "extra", "text": "..."}
      add a member at the end of the artifact, after the payload
  {"op": "sign", "key": "private.pem"}
      sign the final manifest again (openssl, RSA PKCS#1 v1.5 with SHA-256, as Mender does)
"""
import gzip
import hashlib
import io
import base64
import json
import lzma
import subprocess
import sys
import tarfile

BLOCK = 512


def sha(data):
    return hashlib.sha256(data).hexdigest()


def pad(data):
    return data + b"\0" * (-len(data) % BLOCK)


def decompress(name, data):
    if name.endswith(".gz"):
        return gzip.decompress(data)
    if name.endswith(".xz"):
        return lzma.decompress(data)
    return data


def compress(name, data):
    if name.endswith(".gz"):
        return gzip.compress(data)
    if name.endswith(".xz"):
        return lzma.compress(data, format=lzma.FORMAT_XZ)
    return data


class Entry:
    """A tar entry: its TarInfo and content, or raw bytes once re-encoded by an operation."""

    def __init__(self, info, data):
        self.info, self.data, self.raw = info, data, None

    def encode(self, fmt):
        if self.raw is not None:
            return self.raw
        self.info.size = len(self.data)
        return self.info.tobuf(fmt) + pad(self.data)


def read_tar(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return [Entry(i, tar.extractfile(i).read() if i.isfile() else b"") for i in tar]


def write_tar(entries, fmt=tarfile.USTAR_FORMAT):
    return b"".join(e.encode(fmt) for e in entries) + b"\0" * (2 * BLOCK)


def find(entries, name):
    for entry in entries:
        if entry.info.name == name:
            return entry
    raise SystemExit(f"artifact_edit: no entry {name}")


def checksum_block(block):
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def with_typeflag(entry, flag):
    block = bytearray(entry.encode(tarfile.GNU_FORMAT if flag in "MS" else tarfile.USTAR_FORMAT))
    block[156] = 0 if flag == "\0" else ord(flag)
    return checksum_block(block[:BLOCK]) + bytes(block[BLOCK:])


def data_map(content):
    """(offset, length) of the runs of non-zero 512-byte blocks; the rest are holes."""
    runs, start = [], None
    for at in range(0, len(content), BLOCK):
        zero = not any(content[at : at + BLOCK])
        if not zero and start is None:
            start = at
        if zero and start is not None:
            runs.append((start, at - start))
            start = None
    if start is not None:
        runs.append((start, len(content) - start))
    if not runs or runs[-1][0] + runs[-1][1] < len(content):
        runs.append((len(content), 0))  # GNU tar ends a map on a hole with an empty run
    return runs


def sparse(entry, fmt):
    content, name = entry.data, entry.info.name
    runs = data_map(content)
    stored = b"".join(content[o : o + n] for o, n in runs)
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = entry.info.mode, entry.info.mtime
    if fmt == "gnu":
        if len(runs) > 4:
            raise SystemExit("artifact_edit: more than 4 runs need GNU extension blocks")
        info.size = len(stored)
        block = bytearray(info.tobuf(tarfile.GNU_FORMAT)[:BLOCK])
        block[156] = ord("S")
        for i, (offset, length) in enumerate(runs):
            block[386 + 24 * i : 398 + 24 * i] = b"%011o\0" % offset
            block[398 + 24 * i : 410 + 24 * i] = b"%011o\0" % length
        block[483:495] = b"%011o\0" % len(content)
        entry.raw = checksum_block(block) + pad(stored)
        return stored
    flat = ",".join(f"{o},{n}" for o, n in runs)
    if fmt == "pax-0.0":
        # Repeated offset/numbytes records: written by hand, tarfile keeps one per key.
        records = [("GNU.sparse.size", len(content)), ("GNU.sparse.numblocks", len(runs))]
        for offset, length in runs:
            records += [("GNU.sparse.offset", offset), ("GNU.sparse.numbytes", length)]
        body = b"".join(pax_record(k, str(v)) for k, v in records)
        ext = tarfile.TarInfo("././@PaxHeader")
        ext.type, ext.size = tarfile.XHDTYPE, len(body)
        info.size = len(stored)
        entry.raw = ext.tobuf(tarfile.USTAR_FORMAT) + pad(body)
        entry.raw += info.tobuf(tarfile.USTAR_FORMAT) + pad(stored)
        return stored
    if fmt == "pax-1.0":
        header = "".join(f"{x}\n" for x in [len(runs)] + [v for run in runs for v in run])
        stored = pad(header.encode()) + stored
        pax = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
               "GNU.sparse.name": name, "GNU.sparse.realsize": str(len(content))}
        info.name = f"./GNUSparseFile.0/{name}"
    elif fmt == "pax-0.1":
        pax = {"GNU.sparse.size": str(len(content)), "GNU.sparse.numblocks": str(len(runs)),
               "GNU.sparse.map": flat}
    else:
        raise SystemExit(f"artifact_edit: unknown sparse format {fmt}")
    info.size, info.pax_headers = len(stored), pax
    entry.raw = info.tobuf(tarfile.PAX_FORMAT) + pad(stored)
    return stored


def pax_record(key, value):
    rest = f" {key}={value}\n".encode()
    length = len(rest) + 1
    while len(str(length)) + len(rest) != length:
        length += 1
    return str(length).encode() + rest


def check_sparse(raw, name, content):
    """Python's tarfile must read the crafted entry back as the original content."""
    with tarfile.open(fileobj=io.BytesIO(raw + b"\0" * 1024), mode="r:") as tar:
        member = tar.next()
        got = tar.extractfile(member).read()
    if member.name != name or got != content:
        raise SystemExit(f"artifact_edit: the sparse entry does not read back as {name}")


def main():
    request = json.load(sys.stdin)
    with open(request["input"], "rb") as f:
        outer = read_tar(f.read())
    header_member = next(e for e in outer if e.info.name.startswith("header.tar"))
    data_member = next((e for e in outer if e.info.name.startswith("data/0000.tar")), None)
    header = read_tar(decompress(header_member.info.name, header_member.data))
    augment_member = next((e for e in outer if e.info.name.startswith("header-augment.tar")), None)
    augment = read_tar(decompress(augment_member.info.name, augment_member.data)) \
        if augment_member else []
    tars = {"header": header, "header-augment": augment}
    changed_tars, stale = set(), set()
    data = read_tar(decompress(data_member.info.name, data_member.data)) if data_member else []
    lines = {}
    for member in ("manifest", "manifest-augment"):
        text = next((e.data.decode() for e in outer if e.info.name == member), "")
        lines[member] = dict(reversed(line.split("  ", 1)) for line in text.splitlines() if line)
    changed_data = False
    summary, outer_ops = {}, []
    for op in request["ops"]:
        kind, where_name = op["op"], op.get("where", "header")
        if kind == "sign" or (kind in ("typeflag", "sparse") and where_name == "outer"):
            outer_ops.append(op)  # once the members' bytes are final
            continue
        where = {"header": header, "data": data}[where_name]
        if kind in ("typeflag", "sparse") and where_name == "data":
            changed_data = True
        if kind in ("json", "raw"):
            changed_tars.add(op.get("tar", "header"))
        elif kind in ("typeflag", "sparse") and where_name == "header":
            changed_tars.add("header")
        if kind == "json":
            entry = find(tars[op.get("tar", "header")], op["member"])
            doc = json.loads(entry.data) if entry.data else {}
            target, last = doc, op["path"][-1]
            for key in op["path"][:-1]:  # a list is indexed by a number in a string
                target = target[int(key)] if isinstance(target, list) else target.setdefault(key, {})
            last = int(last) if isinstance(target, list) else last
            if op.get("delete"):
                del target[last]
            else:
                target[last] = op["value"]
            entry.data = json.dumps(doc, separators=(",", ":")).encode()
        elif kind == "raw":
            tar = tars[op.get("tar", "header")]
            if op.get("create"):
                info = tarfile.TarInfo(op["member"])
                info.mode = 0o600
                tar.append(Entry(info, op["text"].encode()))
            else:
                find(tar, op["member"]).data = op["text"].encode()
        elif kind == "stale":
            stale.add(op["member"])
        elif kind == "data-raw":
            find(data, op["name"]).data = op["text"].encode()
            changed_data = True
        elif kind == "typeflag":
            entry = find(where, op["member"])
            entry.raw = with_typeflag(entry, op["typeflag"])
        elif kind == "sparse":
            entry = find(where, op["member"])
            stored = sparse(entry, op["format"])
            check_sparse(entry.raw, entry.info.name, entry.data)
            summary[entry.info.name] = {"stored": sha(stored), "expanded": sha(entry.data)}
            if where_name == "data" and op.get("checksum") == "stored":
                lines["manifest"][f"data/0000/{entry.info.name}"] = sha(stored)
        elif kind == "manifest":
            for name, digest in op.get("add", []):
                lines[op["member"]][name] = digest
            for name in op.get("drop", []):
                lines[op["member"]].pop(name)
        elif kind == "outer-add":
            info = tarfile.TarInfo(op["name"])
            info.mode = 0o600
            outer.append(Entry(info, op["text"].encode()))
        elif kind == "data-add":
            info = tarfile.TarInfo(op["name"])
            info.mode = 0o644
            data.append(Entry(info, op["text"].encode()))
            changed_data = True
            if op.get("listed"):
                lines["manifest"][f"data/0000/{op['name']}"] = sha(op["text"].encode())
        else:
            raise SystemExit(f"artifact_edit: unknown operation {kind}")
    # Put the members back, the headers and the payload compressed as they were; an untouched
    # header keeps its bytes (and a signature over the manifest stays valid).
    if "header" in changed_tars:
        header_member.data = compress(header_member.info.name, write_tar(header))
    if data_member and changed_data:
        data_member.data = compress(data_member.info.name, write_tar(data))
    lines["manifest"][header_member.info.name] = sha(header_member.data)
    if augment_member and "header-augment" in changed_tars:
        augment_member.data = compress(augment_member.info.name, write_tar(augment))
        if "header-augment" not in stale:
            lines["manifest-augment"][augment_member.info.name] = sha(augment_member.data)
    for entry in outer:
        if entry.info.name in lines:
            text = "".join(f"{d}  {n}\n" for n, d in sorted(lines[entry.info.name].items()))
            entry.data = text.encode()
    for op in outer_ops:
        if op["op"] == "sign":
            manifest = find(outer, "manifest").data
            signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", op["key"]],
                                       input=manifest, capture_output=True, check=True).stdout
            find(outer, "manifest.sig").data = base64.b64encode(signature)
            continue
        entry = find(outer, op["member"])
        if op["op"] == "typeflag":
            entry.raw = with_typeflag(entry, op["typeflag"])
        else:
            sparse(entry, op["format"])
            check_sparse(entry.raw, entry.info.name, entry.data)
    with open(request["output"], "wb") as f:
        f.write(write_tar(outer))
    json.dump(summary, sys.stdout)


if __name__ == "__main__":
    main()
