/**
 * The environment variable names the pinned n8n and its task runner read (config/env-names/,
 * read off the npm packages): `extraEnv` is checked against them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The release the lists were read off. */
export const ENV_NAMES_RELEASE = "2.40.7";

const cache = new Map<string, ReadonlySet<string>>();

/** Names a process reads: n8n itself (main, worker, webhook) or the task runner. */
export function knownEnvNames(kind: "n8n" | "task-runner"): ReadonlySet<string> {
  let names = cache.get(kind);
  if (!names) {
    const text = readFileSync(join(__dirname, "env-names", `${kind}-${ENV_NAMES_RELEASE}.txt`), "utf8");
    names = new Set(text.split("\n").filter(Boolean));
    cache.set(kind, names);
  }
  return names;
}
