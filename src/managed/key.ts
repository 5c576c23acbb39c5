/**
 * The device's own key pair, which the server knows it by: made on first start (RSA 3072 by
 * default, as Mender 3.x/4.x; ECDSA P-256 or Ed25519 on request), written once and crash-safe
 * with mode 0600, and used to sign every authentication request. `Security.AuthPrivateKey`
 * points at a key provisioned by other means (Mender 5's key): it is used as it is.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type KeyObject,
  sign,
} from "node:crypto";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import type { Config } from "../device/config.ts";
import { fail } from "../errors.ts";
import { atomicWriteFile, readTextIfExists } from "../files.ts";

export type DeviceKeyType = "rsa" | "ecdsa" | "ed25519";

export interface DeviceKey {
  type: DeviceKeyType;
  /** SubjectPublicKeyInfo PEM, as the auth request carries it. */
  publicPem: string;
  /** The X-MEN-Signature of exactly these bytes (base64). */
  sign(body: Uint8Array): string;
}

/** Where the key lives: `Security.AuthPrivateKey`, else `<data>/mender-agent.pem` (Mender's name). */
export function deviceKeyPath(config: Config, dataDir: string): string {
  return config.Security?.AuthPrivateKey ?? `${dataDir}/mender-agent.pem`;
}

function typeOf(key: KeyObject, path: string): DeviceKeyType {
  const type = key.asymmetricKeyType;
  if (type === "rsa" || type === "ed25519") return type;
  if (type === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ecdsa";
  fail(
    "KEY_INVALID",
    `the device key ${path} is ${type}${
      type === "ec" ? ` on ${key.asymmetricKeyDetails?.namedCurve}` : ""
    }; the server accepts RSA, ECDSA P-256 and Ed25519 keys`,
  );
}

/** Signs as the server verifies (deviceauth): RSA PKCS#1 v1.5 and ECDSA (DER) over SHA-256, Ed25519 over the raw bytes. */
export function signBody(key: KeyObject, type: DeviceKeyType, body: Uint8Array): string {
  const signature = type === "ed25519"
    ? sign(null, body, key)
    : sign("sha256", body, type === "ecdsa" ? { key, dsaEncoding: "der" } : key);
  return signature.toString("base64");
}

function wrap(key: KeyObject, path: string): DeviceKey {
  const type = typeOf(key, path);
  const publicPem = createPublicKey(key).export({ type: "spki", format: "pem" }).toString();
  return { type, publicPem, sign: (body) => signBody(key, type, body) };
}

function generate(type: DeviceKeyType): Promise<KeyObject> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, _public: KeyObject, privateKey: KeyObject) =>
      error ? reject(error) : resolve(privateKey);
    if (type === "rsa") generateKeyPair("rsa", { modulusLength: 3072 }, done);
    else if (type === "ecdsa") generateKeyPair("ec", { namedCurve: "prime256v1" }, done);
    else generateKeyPair("ed25519", {}, done);
  });
}

/**
 * Loads the device key, or makes one when there is none. A key that exists but cannot be
 * read is an error, never a reason to make a new one: the server would see a new device.
 */
export async function loadDeviceKey(
  config: Config,
  dataDir: string,
  log?: { info(message: string): void },
  options: {
    /** Make a new key even when one exists (mender-auth bootstrap --forcebootstrap). */
    renew?: boolean;
    /** Decrypts an encrypted PEM key (mender-auth --passphrase-file). */
    passphrase?: string;
  } = {},
): Promise<DeviceKey> {
  const path = deviceKeyPath(config, dataDir);
  const pem = options.renew
    ? undefined
    : await readTextIfExists(path).catch((error) =>
      fail("KEY_INVALID", `cannot read the device key ${path}: ${(error as Error).message}`)
    );
  if (pem !== undefined) {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: pem, passphrase: options.passphrase });
    } catch (error) {
      fail(
        "KEY_INVALID",
        `the device key ${path} is not a PEM private key (${
          (error as Error).message
        }); restore it, or remove it to make the device a new identity`,
      );
    }
    return wrap(key, path);
  }
  log?.info(`Generating a new ${config.DeviceKeyType} device key in ${path}`);
  const key = await generate(config.DeviceKeyType);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await atomicWriteFile(
    path,
    key.export({ type: "pkcs8", format: "pem" }).toString(),
    0o600,
  );
  return wrap(key, path);
}
