/** `--token`: every request must carry `Authorization: Bearer <token>`. */
import { crypto } from "../builtins.ts";

const digest = (text: string) => crypto().createHash("sha256").update(text).digest();

/**
 * Compares in constant time: both sides are hashed first, so neither the length nor the
 * first differing byte of the presented token shows in the time taken.
 */
export function bearerMatches(authorization: string | null, token: string): boolean {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization ?? "");
  const presented = match?.[1] ?? "";
  const equal = crypto().timingSafeEqual(digest(presented), digest(token));
  return equal && match !== null;
}
