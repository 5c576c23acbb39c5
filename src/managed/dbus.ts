/**
 * A small D-Bus client, enough to offer one object on the system bus: the SASL EXTERNAL
 * handshake over the bus's unix socket, the little-endian wire format for the few types it
 * sends and reads (y b u s o g, a variant of those, empty dictionaries), method calls to the
 * bus (Hello, RequestName), answers to calls on its object and signals. No native addon and
 * no library: the D-Bus specification's message format, written out here.
 */
import { createConnection, type Socket } from "node:net";
import process from "node:process";
import { fail, OtaError } from "../errors.ts";

/** Where the system bus listens: DBUS_SYSTEM_BUS_ADDRESS, else D-Bus's default. */
export function systemBusPath(env: Record<string, string | undefined> = process.env): string {
  const address = env.DBUS_SYSTEM_BUS_ADDRESS ?? "unix:path=/var/run/dbus/system_bus_socket";
  for (const entry of address.split(";")) {
    const [transport, params = ""] = entry.split(/:(.*)/s);
    if (transport !== "unix") continue;
    for (const pair of params.split(",")) {
      const [key, value] = pair.split(/=(.*)/s);
      if (key === "path" && value) return decodeURIComponent(value);
      if (key === "abstract" && value) return `\0${decodeURIComponent(value)}`;
    }
  }
  return fail("CONFIG_INVALID", `no unix socket in the D-Bus address ${address}`);
}

type Basic = string | number | boolean;
export type Value = Basic | { variant: string; value: Basic } | [];

const enum Kind {
  call = 1,
  reply = 2,
  error = 3,
  signal = 4,
}

class Writer {
  bytes: number[] = [];
  align(n: number) {
    while (this.bytes.length % n) this.bytes.push(0);
  }
  u32(v: number) {
    this.align(4);
    this.bytes.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255);
  }
  text(v: string, lengthBytes: 1 | 4) {
    const data = new TextEncoder().encode(v);
    if (lengthBytes === 4) this.u32(data.length);
    else this.bytes.push(data.length);
    this.bytes.push(...data, 0);
  }
  /** One value of a single complete type from the small set this client speaks. */
  value(type: string, v: Value) {
    if (type === "y") this.bytes.push(Number(v) & 255);
    else if (type === "b") this.u32(v ? 1 : 0);
    else if (type === "u") this.u32(Number(v));
    else if (type === "s" || type === "o") this.text(String(v), 4);
    else if (type === "g") this.text(String(v), 1);
    else if (type === "v") {
      const inner = v as { variant: string; value: Basic };
      this.text(inner.variant, 1);
      this.value(inner.variant, inner.value);
    } else if (type === "a{sv}") {
      this.u32(0); // empty: the length, then the padding to the entries' alignment
      this.align(8);
    } else fail("INTERNAL", `D-Bus type ${type} is not written here`);
  }
}

/** Splits a signature into its complete types (only the forms this client writes). */
function types(signature: string): string[] {
  return signature.match(/a\{sv\}|[ybusogv]/g) ?? [];
}

export interface Message {
  kind: number;
  serial: number;
  flags: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature: string;
  /** The body's values, when its signature is made of s, o, g, u, b. */
  body: Basic[];
}

const FIELDS: Record<number, keyof Message> = {
  1: "path",
  2: "interface",
  3: "member",
  4: "errorName",
  5: "replySerial",
  6: "destination",
  7: "sender",
  8: "signature",
};

export function encode(
  kind: number,
  serial: number,
  fields: Partial<Message>,
  signature = "",
  values: Value[] = [],
): Uint8Array {
  const body = new Writer();
  types(signature).forEach((type, i) => body.value(type, values[i] ?? ""));
  const head = new Writer();
  head.bytes.push(108, kind, kind === Kind.call ? 0 : 1, 1); // 'l', type, flags, version
  head.u32(body.bytes.length);
  head.u32(serial);
  const entries: [number, string, Basic][] = [];
  for (const [code, name] of Object.entries(FIELDS)) {
    const v = name === "signature" ? (signature || undefined) : fields[name];
    if (v === undefined) continue;
    const type = name === "path"
      ? "o"
      : name === "signature"
      ? "g"
      : name === "replySerial"
      ? "u"
      : "s";
    entries.push([Number(code), type, v as Basic]);
  }
  // the header fields: an array of (code, variant), aligned relative to the message start
  head.u32(0);
  const lengthAt = head.bytes.length - 4;
  for (const [code, type, v] of entries) {
    head.align(8);
    head.bytes.push(code);
    head.value("v", { variant: type, value: v });
  }
  const length = head.bytes.length - lengthAt - 4;
  head.bytes.splice(
    lengthAt,
    4,
    length & 255,
    (length >>> 8) & 255,
    (length >>> 16) & 255,
    length >>> 24,
  );
  head.align(8);
  return new Uint8Array([...head.bytes, ...body.bytes]);
}

class Reader {
  at = 0;
  constructor(
    readonly data: Uint8Array,
    readonly view = new DataView(data.buffer, data.byteOffset, data.byteLength),
  ) {}
  align(n: number) {
    this.at = Math.ceil(this.at / n) * n;
  }
  u32(): number {
    this.align(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  text(lengthBytes: 1 | 4): string {
    const length = lengthBytes === 4 ? this.u32() : this.data[this.at++]!;
    const v = new TextDecoder().decode(this.data.subarray(this.at, this.at + length));
    this.at += length + 1;
    return v;
  }
  value(type: string): Basic {
    if (type === "y") return this.data[this.at++]!;
    if (type === "b") return this.u32() !== 0;
    if (type === "u") return this.u32();
    if (type === "s" || type === "o") return this.text(4);
    if (type === "g") return this.text(1);
    if (type === "v") return this.value(this.text(1));
    throw new OtaError("DBUS_FAILED", `a D-Bus value of type ${type} was not expected`);
  }
}

/** The length of the message at the start of `data`, once its fixed header is there. */
export function messageLength(data: Uint8Array): number | undefined {
  if (data.length < 16) return undefined;
  if (data[0] !== 108) {
    fail("DBUS_FAILED", "the bus sent a big-endian message; only little-endian is read");
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const fields = view.getUint32(12, true);
  return Math.ceil((16 + fields) / 8) * 8 + view.getUint32(4, true);
}

export function decode(data: Uint8Array): Message {
  const r = new Reader(data);
  r.at = 1;
  const kind = data[r.at++]!;
  const flags = data[r.at++]!;
  r.at++; // version
  const bodyLength = r.u32();
  const message: Message = { kind, flags, serial: r.u32(), signature: "", body: [] };
  const end = r.u32() + r.at;
  while (r.at < end) {
    r.align(8);
    const code = data[r.at++]!;
    const v = r.value("v");
    const name = FIELDS[code];
    if (name) (message as unknown as Record<string, Basic>)[name] = v;
  }
  r.align(8);
  const bodyEnd = r.at + bodyLength;
  for (const type of message.signature.split("")) {
    if (!"busog".includes(type) || r.at >= bodyEnd) break; // the rest is not read
    message.body.push(r.value(type));
  }
  return message;
}

export interface Reply {
  signature?: string;
  values?: Value[];
  /** An error reply instead: its D-Bus name and message. */
  error?: { name: string; message: string };
}

export interface Bus {
  uniqueName: string;
  call(
    destination: string,
    path: string,
    iface: string,
    member: string,
    signature?: string,
    values?: Value[],
  ): Promise<Message>;
  emit(path: string, iface: string, member: string, signature: string, values: Value[]): void;
  /** Answers the method calls addressed to this connection. */
  serve(handler: (call: Message) => Promise<Reply>): void;
  closed: Promise<void>;
  close(): void;
}

/** Connects and authenticates (SASL EXTERNAL with this process's uid), then says Hello. */
export async function connectBus(path: string): Promise<Bus> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = createConnection({ path }, () => resolve(s));
    s.once(
      "error",
      (error) =>
        reject(new OtaError("DBUS_FAILED", `cannot reach the D-Bus at ${path}: ${error.message}`)),
    );
  });
  const uid = String(process.getuid?.() ?? 0);
  const hex = [...uid].map((c) => c.charCodeAt(0).toString(16)).join("");
  let pending = new Uint8Array(0);
  const lines: ((line: string) => void)[] = [];
  let authenticated = false;
  let serial = 0;
  const waiting = new Map<number, (m: Message) => void>();
  let handler: (call: Message) => Promise<Reply> = () =>
    Promise.resolve({
      error: { name: "org.freedesktop.DBus.Error.UnknownMethod", message: "no such method" },
    });
  const send = (kind: number, fields: Partial<Message>, signature?: string, values?: Value[]) => {
    serial += 1;
    socket.write(encode(kind, serial, fields, signature, values));
    return serial;
  };
  const dispatch = (m: Message) => {
    if (m.kind === Kind.reply || m.kind === Kind.error) waiting.get(m.replySerial ?? -1)?.(m);
    if (m.kind !== Kind.call) return;
    handler(m).then((reply) => {
      if (m.flags & 1) return; // no reply expected
      if (reply.error) {
        send(
          Kind.error,
          { errorName: reply.error.name, replySerial: m.serial, destination: m.sender },
          "s",
          [reply.error.message],
        );
      } else {send(
          Kind.reply,
          { replySerial: m.serial, destination: m.sender },
          reply.signature,
          reply.values,
        );}
    });
  };
  socket.on("data", (chunk: Uint8Array) => {
    const joined = new Uint8Array(pending.length + chunk.length);
    joined.set(pending);
    joined.set(chunk, pending.length);
    pending = joined;
    while (!authenticated) {
      const nl = pending.indexOf(10);
      if (nl < 0) return;
      const line = new TextDecoder().decode(pending.subarray(0, nl)).trim();
      pending = pending.subarray(nl + 1);
      lines.shift()?.(line);
    }
    for (
      let length = messageLength(pending);
      length !== undefined && pending.length >= length;
      length = messageLength(pending)
    ) {
      dispatch(decode(pending.subarray(0, length)));
      pending = pending.subarray(length);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const answer = new Promise<string>((resolve) => lines.push(resolve));
  socket.write(`\0AUTH EXTERNAL ${hex}\r\n`);
  const line = await Promise.race([answer, closed.then(() => "closed")]);
  if (!line.startsWith("OK ")) {
    socket.destroy();
    fail("DBUS_FAILED", `the D-Bus at ${path} refused the authentication: ${line}`);
  }
  authenticated = true;
  socket.write("BEGIN\r\n");
  const call: Bus["call"] = (destination, objectPath, iface, member, signature, values) =>
    new Promise((resolve, reject) => {
      const id = send(
        Kind.call,
        { path: objectPath, interface: iface, member, destination },
        signature,
        values,
      );
      waiting.set(id, (m) => {
        waiting.delete(id);
        if (m.kind === Kind.error) {
          reject(new OtaError("DBUS_FAILED", `${member}: ${m.errorName}: ${m.body[0] ?? ""}`));
        } else resolve(m);
      });
    });
  const hello = await call(
    "org.freedesktop.DBus",
    "/org/freedesktop/DBus",
    "org.freedesktop.DBus",
    "Hello",
  );
  return {
    uniqueName: String(hello.body[0]),
    call,
    emit: (objectPath, iface, member, signature, values) =>
      void send(Kind.signal, { path: objectPath, interface: iface, member }, signature, values),
    serve: (h) => void (handler = h),
    closed,
    close: () => void socket.end(),
  };
}
