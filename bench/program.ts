/**
 * P1: how fast the program evaluates and renders the prod stack, and how long the unit suite
 * takes. `npm run bench:program` (median of 5 runs each; results appended to bench/RESULTS.md).
 *  - whole process: `tsx scripts/render.ts prod`, wall time and peak RSS (GNU time);
 *  - in process: the program run under the mock runtime plus the render's files, after one warm-up;
 *  - the unit suite: `npm test`, wall time.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { PROJECT } from "../components/kubernetes/names";
import { renderFiles, runStack } from "../render/run";
import { readStackFile } from "../render/stack-files";
import { median, publish } from "./results";

const ROOT = resolve(__dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function wholeProcess(): { seconds: number[]; peakMiB: number[] } {
  const seconds: number[] = [];
  const peakMiB: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = spawnSync(
      "/usr/bin/time",
      ["-f", "%e %M", join(ROOT, "node_modules", ".bin", "tsx"), "scripts/render.ts", "prod"],
      {
        cwd: ROOT,
        encoding: "utf8",
      },
    );
    if (r.status !== 0) throw new Error(`render failed: ${r.stderr}`);
    const [wall, kib] = (r.stderr.trim().split("\n").pop() ?? "").split(" ").map(Number);
    seconds.push(wall as number);
    peakMiB.push((kib as number) / 1024);
  }
  return { seconds, peakMiB };
}

async function inProcess(): Promise<{ seconds: number[]; rssMiB: number }> {
  const file = readStackFile(ROOT, "prod", PROJECT);
  if (!file) throw new Error("no Pulumi.prod.yaml");
  const load = async () => {
    // A fresh program each run: drop this repository's modules from the require cache.
    for (const key of Object.keys(require.cache))
      if (key.startsWith(ROOT) && !key.includes("node_modules")) delete require.cache[key];
    return require("../index") as Record<string, unknown>;
  };
  const once = async () => {
    const t0 = process.hrtime.bigint();
    renderFiles(await runStack({ project: PROJECT, stack: "prod", ...file, load }));
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  await once();
  const seconds: number[] = [];
  for (let i = 0; i < RUNS; i++) seconds.push(await once());
  return { seconds, rssMiB: process.memoryUsage().rss / 2 ** 20 };
}

function unitSuite(): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("npm", ["test", "--silent"], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`npm test failed:\n${r.stdout.slice(-2000)}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main() {
  const whole = wholeProcess();
  const inproc = await inProcess();
  const suite = unitSuite();
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(", ");
  const report = [
    `## P1: the program (${new Date().toISOString()})`,
    "",
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Node ${process.version}; @pulumi/pulumi ${pkg.dependencies["@pulumi/pulumi"]}. Command: \`npm run bench:program\` (${RUNS} runs each, medians).`,
    "",
    "| measure | median | runs | target |",
    "|---|---|---|---|",
    `| render prod, whole process (\`tsx scripts/render.ts prod\`) | ${median(whole.seconds).toFixed(2)} s | ${fmt(whole.seconds)} | <= 1.5 s |`,
    `| render prod, whole process, peak RSS | ${median(whole.peakMiB).toFixed(0)} MiB | ${fmt(whole.peakMiB)} | |`,
    `| evaluate + render prod, in process (warm) | ${median(inproc.seconds).toFixed(3)} s | ${fmt(inproc.seconds)} | |`,
    `| in-process RSS after the runs | ${inproc.rssMiB.toFixed(0)} MiB | | |`,
    `| unit suite (\`npm test\`) | ${suite.toFixed(1)} s | 1 | <= 30 s |`,
    "",
  ].join("\n");
  publish(report);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
