import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { validateWorkflow } from "@action-validator/core";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ROOT } from "./harness";

const DIR = join(ROOT, ".github", "workflows");
const files = readdirSync(DIR).filter((f) => f.endsWith(".yml"));
const read = (f: string) => readFileSync(join(DIR, f), "utf8");

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  needs?: string | string[];
  environment?: string;
  permissions?: Record<string, string>;
  strategy?: { "max-parallel"?: number; "fail-fast"?: boolean; matrix?: { stack?: string[] } };
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}
const workflow = (f: string) => parse(read(f)) as Workflow;
const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);

describe("the users' CI workflows", () => {
  it("are the two expected files", () => {
    expect(files.sort()).toEqual(["deploy.yml", "preview.yml"]);
  });

  it.each(files)("%s validates against GitHub's workflow schema", (f) => {
    expect(validateWorkflow(read(f)).errors).toEqual([]);
  });

  it("the validator rejects a broken workflow (so the check above can fail)", () => {
    expect(validateWorkflow("on: push\njobs:\n  a:\n    runs-onn: x\n    steps: 3\n").errors.length).toBeGreaterThan(0);
  });

  it.each(files)("%s pins every action to an exact version or commit", (f) => {
    const uses = steps(workflow(f)).flatMap((s) => (s.uses ? [s.uses] : []));
    expect(uses.length).toBeGreaterThan(2);
    for (const u of uses) expect(u, f).toMatch(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@(v\d+\.\d+\.\d+|[0-9a-f]{40})$/);
  });

  it.each(files)("%s grants least privilege: read-only by default", (f) => {
    expect(workflow(f).permissions).toEqual({ contents: "read" });
  });

  it("pull requests: npm ci (root and policies), the test command, then a preview per stack with the pack", () => {
    const w = workflow("preview.yml");
    expect(Object.keys(w.on)).toEqual(["pull_request"]);
    const runs = w.jobs.test?.steps.map((s) => s.run).filter(Boolean);
    expect(runs).toEqual(expect.arrayContaining(["npm ci", "npm ci --prefix policies", "npm test"]));
    const preview = w.jobs.preview as Job;
    expect(preview.needs).toBe("test");
    expect(preview.strategy?.matrix?.stack).toEqual(["staging", "prod"]);
    expect(preview.permissions?.["pull-requests"]).toBe("write");
    const pulumi = preview.steps.find((s) => s.uses?.startsWith("pulumi/actions@"));
    expect(pulumi?.with).toMatchObject({ command: "preview", policyPacks: "./policies", "comment-on-pr": true });
    expect(String(pulumi?.with?.["cloud-url"])).toContain("vars.PULUMI_BACKEND_URL");
  });

  it("main: up staging, then prod behind its protected environment, one at a time, stopping on failure", () => {
    const w = workflow("deploy.yml");
    expect(Object.keys(w.on)).toContain("push");
    const up = w.jobs.up as Job;
    expect(up.strategy).toMatchObject({ "max-parallel": 1, "fail-fast": true, matrix: { stack: ["staging", "prod"] } });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a template literal.
    expect(up.environment).toBe("${{ matrix.stack }}");
    const pulumi = up.steps.find((s) => s.uses?.startsWith("pulumi/actions@"));
    expect(pulumi?.with).toMatchObject({ command: "up", policyPacks: "./policies" });
  });

  it("every policy config file the workflows name exists and is JSON", () => {
    for (const stack of ["staging", "prod"]) {
      const config = JSON.parse(readFileSync(join(ROOT, "policies", `config.${stack}.json`), "utf8"));
      expect(config["hpa-sane"].production).toBe(stack === "prod");
    }
  });
});
