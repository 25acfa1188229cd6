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

  it("the Helm mapping table names only keys the schema has", () => {
    const section = readme.split("## Coming from the Helm charts")[1]?.split("\n## ")[0] ?? "";
    const rows = section.split("\n").filter((l) => l.startsWith("| `"));
    expect(rows.length).toBeGreaterThan(25);
    const keys = new Set(configKeyDocs().map((d) => d.key));
    const prefixes = new Set(
      [...keys].flatMap((k) => k.split(".").map((_, i, parts) => parts.slice(0, i + 1).join("."))),
    );
    const tops = new Set([...keys].map((k) => k.split(".")[0]));
    let checked = 0;
    for (const row of rows) {
      const ours = row.split(" | ")[1] ?? "";
      for (const m of ours.matchAll(/`([a-z][A-Za-z]*(?:\.[A-Za-z]+)+)(?:: [^`]*)?`/g)) {
        const key = m[1] as string;
        if (!tops.has(key.split(".")[0])) continue;
        expect(prefixes.has(key) || keys.has(key), `${key} (in: ${row.slice(0, 60)})`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it("shows the stack-qualified error format the config really produces", () => {
    expect(readme).toContain('`stack "prod": workers.maxReplicas (2) must be >= workers.minReplicas (3)`');
  });
});
