/** The pure parts of the benchmarks: variant parsing, percentiles, CPU and memory from /proc. */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { rssMiB, treeCpuSeconds } from "../bench/cpu";
import { median } from "../bench/results";
import { extraVariants, N8N_DEFAULTS, percentile } from "../bench/variants";

describe("bench:cluster variants", () => {
  it("--without puts each named setting (or group) back to n8n's default", () => {
    const v = extraVariants([
      "--without",
      "N8N_EXPRESSION_ENGINE_POOL_SIZE,DB_POSTGRESDB_STATEMENT_TIMEOUT+NOT_LISTED",
    ]);
    expect(v.map((x) => x.name)).toEqual([
      "a without N8N_EXPRESSION_ENGINE_POOL_SIZE",
      "a without DB_POSTGRESDB_STATEMENT_TIMEOUT + NOT_LISTED",
    ]);
    expect(v[0]?.env).toEqual({ N8N_EXPRESSION_ENGINE_POOL_SIZE: N8N_DEFAULTS.N8N_EXPRESSION_ENGINE_POOL_SIZE });
    // A name without a known default is removed from the env, which gives n8n's default too.
    expect(v[1]?.env).toEqual({ DB_POSTGRESDB_STATEMENT_TIMEOUT: "300000", NOT_LISTED: undefined });
    expect(v.every((x) => x.rendered)).toBe(true);
  });

  it("--with sets values, and a malformed pair is refused by name", () => {
    const v = extraVariants(["--with", "EXECUTIONS_DATA_SAVE_ON_SUCCESS=none+N8N_LOG_LEVEL=warn"]);
    expect(v[0]?.env).toEqual({ EXECUTIONS_DATA_SAVE_ON_SUCCESS: "none", N8N_LOG_LEVEL: "warn" });
    expect(() => extraVariants(["--with", "N8N_LOG_LEVEL"])).toThrow('--with expects NAME=VALUE, got "N8N_LOG_LEVEL"');
    expect(extraVariants([])).toEqual([]);
  });

  it("percentiles are nearest-rank over sorted samples; the median averages the middle pair", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 95)).toBe(95);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([], 95)).toBeNaN();
    expect(median([3, 1, 2, 10])).toBe(2.5);
  });
});

describe("bench CPU and memory from /proc", () => {
  it("a process tree's CPU includes its children's", async () => {
    const before = treeCpuSeconds([process.pid]).get(process.pid) ?? 0;
    const child = spawn(process.execPath, ["-e", "const t = Date.now(); while (Date.now() - t < 400);"]);
    // Sample while the child is alive: its time counts through the tree, not only once reaped.
    await new Promise((r) => setTimeout(r, 300));
    const during = treeCpuSeconds([process.pid]).get(process.pid) ?? 0;
    await new Promise((r) => child.on("exit", r));
    expect(during - before).toBeGreaterThan(0.1);
    expect(treeCpuSeconds([999_999_999]).get(999_999_999)).toBe(0);
  });

  it("RSS of a live process is positive and at most its peak; of a missing one 0", () => {
    expect(rssMiB(process.pid)).toBeGreaterThan(10);
    expect(rssMiB(process.pid, "VmRSS")).toBeLessThanOrEqual(rssMiB(process.pid, "VmHWM"));
    expect(rssMiB(999_999_999)).toBe(0);
  });
});
