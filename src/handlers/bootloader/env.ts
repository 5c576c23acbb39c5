/** What every bootloader backend offers, and the `name=value` listing their tools print. */

/** How long fw_printenv, fw_setenv or grub-editenv may take before they count as hung. */
export const TOOL_TIMEOUT_MS = 60_000;

export interface BootEnv {
  readonly kind: "uboot" | "grub";
  /** Reads variables; unset ones are absent from the result. */
  read(): Promise<Record<string, string>>;
  /** Sets (string) or removes (null) variables, all in one write where the tool allows it. */
  write(vars: Record<string, string | null>): Promise<void>;
}

/** Parses `name=value` lines (fw_printenv, grub-editenv list); empty values count as unset. */
export function parseEnvLines(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at <= 0) continue;
    const value = line.slice(at + 1);
    // libubootenv prints `name=` for a name it does not know
    if (value !== "") vars[line.slice(0, at)] = value;
  }
  return vars;
}
