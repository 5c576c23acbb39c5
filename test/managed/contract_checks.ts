/**
 * What the contract server checks in each request, written from the server's OpenAPI files
 * (deviceauth, deployments, inventory devices_v1.yaml and their schemas): the JSON shapes,
 * the status values a device may send, and the auth request's signature, verified with
 * node:crypto for RSA (PKCS#1 v1.5 / SHA-256), ECDSA P-256 (DER / SHA-256) and Ed25519.
 */
import { Buffer } from "node:buffer";
import { createPublicKey, verify } from "node:crypto";
import { z } from "zod";

/** deviceauth AuthRequest: id_data (a JSON string) and pubkey required, tenant_token optional. */
export const authRequestSchema = z.object({
  id_data: z.string().min(1),
  pubkey: z.string().min(1),
  tenant_token: z.string().optional(),
}).passthrough();

/** deployments DeploymentStatus: the values a device may report. */
export const deviceStatuses = [
  "installing",
  "pause_before_installing",
  "downloading",
  "pause_before_rebooting",
  "rebooting",
  "pause_before_committing",
  "success",
  "failure",
  "already-installed",
] as const;
export const statusSchema = z.object({
  status: z.enum(deviceStatuses),
  substate: z.string().optional(),
}).passthrough();

const dateTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "not a date-time");

/** deployments DeploymentLog: messages of {timestamp, level, message}, all required. */
export const logSchema = z.object({
  messages: z.array(z.object({ timestamp: dateTime, level: z.string(), message: z.string() })),
});

/** inventory DeviceAttributeRequest list; values: string, number, or a list of one of them. */
export const attributesSchema = z.array(
  z.object({
    name: z.string().min(1),
    value: z.union([z.string(), z.number(), z.array(z.string()), z.array(z.number())]),
    description: z.string().optional(),
  }),
);

/** The device's provides, as v2 (and 3.4's v1 POST) send them: strings, with the two required keys. */
const providesSchema = z.record(z.string(), z.string()).refine(
  (p) => typeof p.artifact_name === "string" && typeof p.device_type === "string",
  "artifact_name and device_type are required",
);
export const nextV2Schema = z.object({
  device_provides: providesSchema,
  update_control_map: z.boolean().optional(),
}).strict();
export const nextV1PostSchema = providesSchema;

export type KeyType = "rsa" | "ecdsa" | "ed25519";

export interface SignatureCheck {
  keyType?: KeyType;
  valid: boolean;
  problem?: string;
}

/** Verifies X-MEN-Signature over the exact body bytes with the key in the body. */
export function checkSignature(
  body: Uint8Array,
  pubkey: string,
  signature: string,
): SignatureCheck {
  let key;
  try {
    key = createPublicKey(pubkey);
  } catch (error) {
    return { valid: false, problem: `pubkey is not a PEM public key: ${(error as Error).message}` };
  }
  const sig = Buffer.from(signature, "base64");
  const type = key.asymmetricKeyType;
  if (type === "rsa") {
    return { keyType: "rsa", valid: verify("sha256", body, key, sig) };
  }
  if (type === "ec") {
    if (key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
      return { valid: false, problem: `ECDSA curve ${key.asymmetricKeyDetails?.namedCurve}` };
    }
    return {
      keyType: "ecdsa",
      valid: verify("sha256", body, { key, dsaEncoding: "der" }, sig),
    };
  }
  if (type === "ed25519") return { keyType: "ed25519", valid: verify(null, body, key, sig) };
  return { valid: false, problem: `unsupported key type ${type}` };
}

/** The first problem zod finds, as one line. */
export function problemOf(result: { success: boolean; error?: z.ZodError }): string | undefined {
  if (result.success) return undefined;
  const issue = result.error?.issues[0];
  return `${issue?.path.join(".") || "(body)"}: ${issue?.message ?? "invalid"}`;
}
