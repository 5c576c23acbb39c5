/** grub-mender-grubenv's environment directory, made with the real grub-editenv. */
import { createHash } from "node:crypto";
import { sh } from "./mod.ts";

export async function listGrubEnv(file: string): Promise<Record<string, string>> {
  const out = (await sh(["grub-editenv", file, "list"])).trim();
  return Object.fromEntries(
    out ? out.split("\n").map((l) => l.split("=") as [string, string]) : [],
  );
}

export async function sha256Hex(path: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
}

/** Both copies with `vars`, each lock at editing=0 and its lock.sha256sum, as the installer makes them. */
export async function makeGrubEnvDir(dir: string, vars: Record<string, string>): Promise<void> {
  for (const n of [1, 2]) {
    const copy = `${dir}/mender_grubenv${n}`;
    await Deno.mkdir(copy, { recursive: true });
    await sh(["grub-editenv", `${copy}/env`, "create"]);
    await sh([
      "grub-editenv",
      `${copy}/env`,
      "set",
      ...Object.entries(vars).map((e) => e.join("=")),
    ]);
    await sh(["grub-editenv", `${copy}/lock`, "create"]);
    await sh(["grub-editenv", `${copy}/lock`, "set", "editing=0"]);
    await Deno.writeTextFile(
      `${copy}/lock.sha256sum`,
      `${await sha256Hex(`${copy}/lock`)}  lock\n`,
    );
  }
}
