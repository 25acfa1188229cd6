/**
 * Figures of the fault scenarios: each scenario records one row; they are printed, written to
 * out/faults/<scenario>.json, and appended to bench/RESULTS.md when FAULTS_PUBLISH=1
 * (`npm run test:faults` sets it; CI does not, so a CI run leaves the repository clean).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { publish } from "../../bench/results";
import { N8N_VERSION, ROOT } from "../../support/servers";

export interface Figure {
  scenario: string;
  what: string;
  /** Measured values, by name. */
  values: Record<string, number | string>;
}

export function record(file: string, figures: Figure[], command = "npm run test:faults"): void {
  const dir = join(ROOT, "out", "faults");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${file}.json`), `${JSON.stringify(figures, null, 2)}\n`);
  const keys = [...new Set(figures.flatMap((f) => Object.keys(f.values)))];
  const report = [
    `## Faults: ${file} (${new Date().toISOString()})`,
    "",
    `Machine: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; n8n ${N8N_VERSION}, Node ${process.version}; everything on loopback. Command: \`${command}\`.`,
    "",
    `| scenario | what | ${keys.join(" | ")} |`,
    `|---|---|${keys.map(() => "---").join("|")}|`,
    ...figures.map((f) => `| ${f.scenario} | ${f.what} | ${keys.map((k) => f.values[k] ?? "").join(" | ")} |`),
    "",
  ].join("\n");
  if (process.env.FAULTS_PUBLISH === "1") publish(report);
  else process.stdout.write(`${report}\n`);
}
