/** A test CA with a server certificate for 127.0.0.1 and a device (client) certificate, made by openssl. */
import { sh } from "../helpers/mod.ts";

export interface TestPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Paths of the PEM files, for mender.conf. */
  files: { ca: string; clientCert: string; clientKey: string };
}

export async function makePki(dir: string): Promise<TestPki> {
  const p = (name: string) => `${dir}/${name}`;
  const quiet = { env: { ...Deno.env.toObject(), RANDFILE: p(".rnd") } };
  await sh([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.crt"),
    "-subj",
    "/CN=ota test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  ], quiet); // deno-fmt-ignore
  const certs: [string, string, string][] = [
    ["server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"],
    ["client", "/CN=ota-test-device", "extendedKeyUsage=clientAuth\n"],
  ];
  for (const [name, subject, ext] of certs) {
    await Deno.writeTextFile(p(`${name}.ext`), `basicConstraints=CA:FALSE\n${ext}`);
    await sh([
      "openssl",
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      p(`${name}.key`),
      "-out",
      p(`${name}.csr`),
      "-subj",
      subject,
    ], quiet); // deno-fmt-ignore
    await sh([
      "openssl", "x509", "-req", "-in", p(`${name}.csr`), "-CA", p("ca.crt"), "-CAkey",
      p("ca.key"), "-CAcreateserial", "-days", "2", "-out", p(`${name}.crt`),
      "-extfile", p(`${name}.ext`),
    ], quiet); // deno-fmt-ignore
  }
  const read = (name: string) => Deno.readTextFile(p(name));
  return {
    ca: await read("ca.crt"),
    serverCert: await read("server.crt"),
    serverKey: await read("server.key"),
    clientCert: await read("client.crt"),
    clientKey: await read("client.key"),
    files: { ca: p("ca.crt"), clientCert: p("client.crt"), clientKey: p("client.key") },
  };
}
