/** Flag values read the way mender-artifact's Go flag library reads them. */
import { fail } from "../errors.ts";

/**
 * Go's strconv.ParseInt(s, 0, 64), which urfave/cli uses for integer flags: `0755` and
 * `0o755` are octal, `0x1ed` hex, `0b111` binary, `755` decimal (so `-m 755` is 0o1363).
 */
export function parseGoInt(value: string, flag: string): number {
  const match = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/
    .exec(value);
  if (!match) fail("BAD_ARGUMENTS", `${flag} takes a number (0755, 0x1ed, 493), not ${value}`);
  const body = match[2]!;
  const underscores = body.includes("_");
  const base = /^0[xX]/.test(body) ? 16 : /^0[oO]/.test(body) ? 8 : /^0[bB]/.test(body) ? 2 : 0;
  // Go allows underscores only after a base prefix, between digits.
  if (underscores && (!/^0/.test(body) || /__|_$/.test(body))) {
    fail("BAD_ARGUMENTS", `${flag} takes a number (0755, 0x1ed, 493), not ${value}`);
  }
  const digits = body.replace(/_/g, "");
  const number = base === 16
    ? parseInt(digits.slice(2), 16)
    : base === 8
    ? parseInt(digits.slice(2), 8)
    : base === 2
    ? parseInt(digits.slice(2), 2)
    : digits.length > 1 && digits.startsWith("0")
    ? parseInt(digits.slice(1), 8)
    : parseInt(digits, 10);
  return match[1] === "-" ? -number : number;
}
