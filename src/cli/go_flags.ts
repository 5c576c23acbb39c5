/** Flag values read the way mender-artifact's Go flag library reads them. */
import { fail } from "../errors.ts";

const digitsOf: Record<number, string> = { 2: "01", 8: "0-7", 10: "0-9", 16: "0-9a-fA-F" };

/**
 * Go's strconv.ParseInt(s, 0, 64), which urfave/cli uses for integer flags: `0755` and
 * `0o755` are octal, `0x1ed` hex, `0b111` binary, `755` decimal (so `-m 755` is 0o1363);
 * underscores may separate digits.
 */
export function parseGoInt(value: string, flag: string): number {
  const bad = () =>
    fail("BAD_ARGUMENTS", `${flag} takes a number (0755, 0x1ed, 493), not ${value}`);
  const match = /^([+-]?)(0[xXoObB]_?)?(.*)$/.exec(value);
  if (!match) return bad();
  const prefix = (match[2] ?? "").toLowerCase().replace("_", "");
  let body = match[3] ?? "";
  let base = prefix === "0x" ? 16 : prefix === "0o" ? 8 : prefix === "0b" ? 2 : 10;
  if (!prefix && body.length > 1 && body.startsWith("0")) {
    base = 8;
    body = body.slice(1).replace(/^_/, "");
  }
  const digits = digitsOf[base]!;
  if (!new RegExp(`^[${digits}]+(_[${digits}]+)*$`).test(body)) return bad();
  const number = parseInt(body.replace(/_/g, ""), base);
  return match[1] === "-" ? -number : number;
}
