/**
 * Runs the benchmarks: every bench/*.ts module that exports `bench`, or the ones named.
 *
 *   deno task bench                       all of them
 *   deno task bench artifact              one (its own flags follow: see bench/README.md)
 *   deno task bench artifact --sizes 4096
 *
 * Common flags (before or after the name): --runs N (default 3), --cold (drop the page
 * cache before each run; root), --work DIR (scratch, default .work/bench), --out NAME
 * (write bench/results/NAME.json instead of the benchmark's own name, for side runs).
 */
import { readdirSync, readFileSync } from "node:fs";
import { type Bench, ensureDir, flag, ROOT, table, writeResults } from "./lib.ts";

const args = [...Deno.args];
const runs = Number(flag(args, "runs", "3"));
const cold = args.includes("--cold");
const work = ensureDir(flag(args, "work", `${ROOT}/.work/bench`));

// Only modules that declare a bench are imported: importing one must not run anything else.
const available = readdirSync(`${ROOT}/bench`)
  .filter((f) => f.endsWith(".ts") && !["lib.ts", "main.ts"].includes(f))
  .filter((f) => /^export const bench\b/m.test(readFileSync(`${ROOT}/bench/${f}`, "utf8")))
  .map((f) => f.replace(/\.ts$/, ""))
  .sort();
const names = args.filter((a) => available.includes(a));
if (args[0] !== undefined && !args[0].startsWith("--") && !names.length) {
  console.error(`no such benchmark: ${args[0]} (have: ${available.join(", ")})`);
  Deno.exit(1);
}

for (const name of names.length ? names : available) {
  const bench = (await import(`./${name}.ts`)).bench as Bench;
  console.log(`\n## ${bench.name}: ${bench.description}\n`);
  const rows = await bench.run({ runs, cold, work: ensureDir(`${work}/${bench.name}`), args });
  console.log(`\n${table(rows)}\n`);
  const out = flag(args, "out", bench.name);
  console.log(`wrote ${writeResults(out, rows, { runs, cold, args })}`);
}
