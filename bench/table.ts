/** Benchmark rows as the Markdown table the results sections quote. */
import type { Row, Spread } from "./lib.ts";

function fixed(value: number | null, digits: number): string {
  return value === null ? "–" : value.toFixed(digits);
}

/** A median with the spread of its runs: `1.23 s (1.10-1.40)`. */
function withSpread(value: number | null, spread: Spread | null, unit: string): string {
  if (value === null) return "–";
  const range = spread && spread.min !== spread.max
    ? ` (${fixed(spread.min, 2)}-${fixed(spread.max, 2)})`
    : "";
  return `${fixed(value, 2)} ${unit}${range}`;
}

/** The rows as a Markdown table (fit for the README): medians (min-max), CPU, peaks, load. */
export function table(rows: Row[], reference = "reference"): string {
  const lines = [
    `| case | ota | ${reference} | ratio | ota CPU s | ${reference} CPU s | ota peak MiB | ` +
    `${reference} peak MiB | load |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.case}${r.note ? ` (${r.note})` : ""} | ${withSpread(r.ota, r.spread.ota, r.unit)} | ` +
      `${withSpread(r.reference, r.spread.reference, r.unit)} | ${fixed(r.ratio, 2)} | ` +
      `${fixed(r.cpuSeconds.ota, 2)} | ${fixed(r.cpuSeconds.reference, 2)} | ` +
      `${fixed(r.peakMiB.ota, 0)} | ${fixed(r.peakMiB.reference, 0)} | ` +
      `${r.machine.loadAverage.split(" ")[0]} |`
    ),
  ];
  return lines.join("\n");
}
