/**
 * The shape of the code: no import cycle anywhere, and the core (update, handlers, device,
 * artifact, managed, server, peers) never imports the command line, so a daemon or a test
 * can drive it without the CLI. Reads the relative import and export specifiers of every
 * .ts file under src/, modules/ and bin/.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { assertEquals } from "./helpers/assert.ts";
import { ROOT } from "./helpers/mod.ts";

const TREES = ["src", "modules", "bin"];
const CORE = ["update", "handlers", "device", "artifact", "managed", "server", "peers"]
  .map((area) => `src/${area}/`);

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort().flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** `import ... from "./x.ts"`, `export ... from "./x.ts"`, `import "./x.ts"`, `import("./x.ts")`. */
const SPECIFIER =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^"';]*?\sfrom\s+)?["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

/** Each file (relative to the root) and the files it imports, relative to the root. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of TREES.flatMap((tree) => tsFiles(`${ROOT}/${tree}`))) {
    const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, "");
    const targets = [...text.matchAll(SPECIFIER)]
      .map((m) => m[1] ?? m[2] ?? "")
      .map((spec) => relative(ROOT, resolve(dirname(file), spec)));
    graph.set(relative(ROOT, file), [...new Set(targets)]);
  }
  return graph;
}

/** Every cycle found by a depth-first walk, each as the chain of files that closes it. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (file: string) => {
    if (onPath.has(file)) {
      found.push([...path.slice(path.indexOf(file)), file]);
      return;
    }
    if (done.has(file) || !graph.has(file)) return;
    path.push(file);
    onPath.add(file);
    for (const next of graph.get(file) ?? []) visit(next);
    onPath.delete(file);
    path.pop();
    done.add(file);
  };
  for (const file of graph.keys()) visit(file);
  return found;
}

const graph = importGraph();

Deno.test("the import graph covers the source trees", () => {
  // A parser that found nothing would pass the other tests vacuously.
  const edges = [...graph.values()].reduce((n, targets) => n + targets.length, 0);
  const driver = graph.get("src/update/driver.ts") ?? [];
  if (graph.size < 50 || edges < 100 || !driver.includes("src/errors.ts")) {
    throw new Error(`only ${graph.size} files and ${edges} imports were found`);
  }
});

Deno.test("no import cycle", () => {
  const chains = cycles(graph).map((chain) => chain.join(" -> "));
  assertEquals(chains, [], `import cycles:\n${chains.join("\n")}`);
});

Deno.test("the core does not import the command line", () => {
  const wrong = [...graph].flatMap(([file, targets]) =>
    CORE.some((area) => file.startsWith(area))
      ? targets.filter((t) => t.startsWith("src/cli/")).map((t) => `${file} -> ${t}`)
      : []
  );
  assertEquals(wrong, [], `the core imports src/cli:\n${wrong.join("\n")}`);
});
