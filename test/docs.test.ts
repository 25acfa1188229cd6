import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configKeyDocs, configTableMarkdown, withConfigTable } from "../config/docs";
import { ROOT } from "./harness";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };

describe("README", () => {
  it("carries the config table generated from the schema (npm run docs:config -- --write)", () => {
    expect(withConfigTable(readme, configTableMarkdown())).toBe(readme);
  });

  it("describes every config key", () => {
    for (const d of configKeyDocs()) expect(d.description, d.key).not.toBe("");
  });

  it("only names npm scripts that exist", () => {
    const named = [...readme.matchAll(/npm run ([a-z:]+)/g)].map((m) => m[1] as string);
    expect(named.length).toBeGreaterThan(3);
    for (const script of named) expect(Object.keys(pkg.scripts), script).toContain(script);
  });

  it("shows the stack-qualified error format the config really produces", () => {
    expect(readme).toContain('`stack "prod": workers.maxReplicas (2) must be >= workers.minReplicas (3)`');
  });
});
