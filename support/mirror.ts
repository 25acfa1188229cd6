/**
 * Git checkouts of other projects whose files the tests read at a pinned tag (Spilo's scripts,
 * cert-manager's and the External Secrets Operator's CRDs): from the directory an env var names, or
 * the snapshot the team's tooling keeps under /work/.mirror.
 */
import { spawnSync } from "node:child_process";

export function gitCheckout(envVar: string, repo: string): string | undefined {
  const candidates = [process.env[envVar], `/work/.mirror/${repo.replace("/", "+")}/repo`].filter(Boolean) as string[];
  return candidates.find((d) => spawnSync("git", ["--git-dir", d, "rev-parse"]).status === 0);
}

/** The checkout, or an error that says how to provide it. */
export function requireGitCheckout(envVar: string, repo: string): string {
  const dir = gitCheckout(envVar, repo);
  if (!dir) throw new Error(`set ${envVar} to a git checkout of ${repo}`);
  return dir;
}
