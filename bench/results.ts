/** Shared by the bench commands: medians, and appending a section to bench/RESULTS.md. */
import { appendFileSync, existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Appends a report to bench/RESULTS.md (newest last) and prints it. */
export function publish(report: string): void {
  const out = join(resolve(__dirname, ".."), "bench", "RESULTS.md");
  if (!existsSync(out))
    writeFileSync(out, "# Benchmark results\n\nEach section is one run of a bench command, newest last.\n\n");
  appendFileSync(out, `${report}\n`);
  process.stdout.write(`${report}\n`);
}
