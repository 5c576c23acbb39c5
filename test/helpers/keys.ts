/** Signing keys made with openssl, in the formats mender-artifact 3.9 accepts. */
import { sh } from "./mod.ts";

export interface KeyPair {
  private: string;
  public: string;
}

export async function rsaKey(dir: string, bits = 3072, name = "rsa"): Promise<KeyPair> {
  const pair = { private: `${dir}/${name}.key`, public: `${dir}/${name}.pub.pem` };
  await sh(["openssl", "genrsa", "-traditional", "-out", pair.private, String(bits)]);
  await sh(["openssl", "rsa", "-in", pair.private, "-pubout", "-out", pair.public]);
  return pair;
}

export async function ecKey(dir: string, name = "ec"): Promise<KeyPair> {
  const pair = { private: `${dir}/${name}.key`, public: `${dir}/${name}.pub.pem` };
  await sh([
    "openssl",
    "ecparam",
    "-genkey",
    "-name",
    "prime256v1",
    "-noout",
    "-out",
    pair.private,
  ]);
  await sh(["openssl", "ec", "-in", pair.private, "-pubout", "-out", pair.public]);
  return pair;
}
