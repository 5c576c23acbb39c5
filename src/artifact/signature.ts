/**
 * Signatures over the manifest bytes, as mender-artifact makes them: SHA-256 with RSA
 * PKCS#1 v1.5, or ECDSA P-256 as a raw 64-byte `r || s`; base64 text, no newline.
 */
import type { KeyObject } from "node:crypto";
import { Buffer } from "node:buffer";
import { crypto } from "../builtins.ts";
import { fail } from "../errors.ts";

export type SigningKey = KeyObject;
export type VerifyKey = KeyObject;

function checkAlgorithm(key: KeyObject, what: string): void {
  const type = key.asymmetricKeyType;
  if (type === "rsa") return;
  if (type === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return;
  fail(
    "KEY_UNSUPPORTED",
    `${what} is a ${type} key${
      type === "ec" ? ` on ${key.asymmetricKeyDetails?.namedCurve}` : ""
    }; ` +
      "Mender artifacts are signed with RSA or ECDSA P-256 keys",
  );
}

/** Loads a PEM private key (PKCS#1, SEC1 or PKCS#8). */
export function parseSigningKey(pem: string | Uint8Array, what = "the signing key"): SigningKey {
  let key: KeyObject;
  try {
    key = crypto().createPrivateKey(typeof pem === "string" ? pem : Buffer.from(pem));
  } catch (error) {
    fail("KEY_INVALID", `${what} is not a PEM private key (${(error as Error).message})`);
  }
  checkAlgorithm(key, what);
  return key;
}

/** Loads a PEM public key; a private key is accepted too and its public half used. */
export function parseVerifyKey(pem: string | Uint8Array, what = "the verification key"): VerifyKey {
  let key: KeyObject;
  try {
    key = crypto().createPublicKey(typeof pem === "string" ? pem : Buffer.from(pem));
  } catch (error) {
    fail("KEY_INVALID", `${what} is not a PEM public key (${(error as Error).message})`);
  }
  checkAlgorithm(key, what);
  return key;
}

/** Signs the manifest bytes; returns the `manifest.sig` content. */
export function signManifest(manifest: Uint8Array, key: SigningKey): Uint8Array {
  const { sign } = crypto();
  const signature = key.asymmetricKeyType === "ec"
    ? sign("sha256", manifest, { key, dsaEncoding: "ieee-p1363" })
    : sign("sha256", manifest, key);
  return new TextEncoder().encode(Buffer.from(signature).toString("base64"));
}

/**
 * True when any of the keys verifies the signature. ECDSA signatures may be the raw
 * 64 bytes mender-artifact writes, or DER (70..72 bytes) as an HSM or KMS makes them.
 */
export function verifyManifest(manifest: Uint8Array, sig: Uint8Array, keys: VerifyKey[]): boolean {
  const text = new TextDecoder().decode(sig).trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return false;
  const raw = Buffer.from(text, "base64");
  const { verify } = crypto();
  return keys.some((key) => {
    try {
      if (key.asymmetricKeyType === "rsa") return verify("sha256", manifest, key, raw);
      if (raw.length === 64) {
        return verify("sha256", manifest, { key, dsaEncoding: "ieee-p1363" }, raw);
      }
      if (raw.length >= 70 && raw.length <= 72) {
        return verify("sha256", manifest, { key, dsaEncoding: "der" }, raw);
      }
      return false;
    } catch {
      return false;
    }
  });
}
