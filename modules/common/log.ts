/** Module output: stdout is reserved for query answers, so every message goes to stderr. */
import process from "node:process";

export function moduleLog(module: string): (message: string) => void {
  return (message) => process.stderr.write(`${module}: ${message}\n`);
}
