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

/** Variables Node.js itself reads at start, in every n8n process (NODE_EXTRA_CA_CERTS: extra trusted CAs). */
export const NODE_RUNTIME_ENV: ReadonlySet<string> = new Set(["NODE_EXTRA_CA_CERTS"]);

/**
 * Variables the AWS SDK for JavaScript v3 inside n8n reads for a web identity (IRSA), used by n8n's
 * object storage with N8N_EXTERNAL_STORAGE_S3_AUTH_AUTO_DETECT (@aws-sdk/credential-provider-web-identity).
 */
export const AWS_SDK_ENV: ReadonlySet<string> = new Set([
  "AWS_ROLE_ARN",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_ROLE_SESSION_NAME",
]);

/**
 * Whether a process reads a variable: a name on its list; for n8n also `<NAME>_FILE` of a name on
 * it (@n8n/config's readEnv takes the value from that file when NAME is unset), Node's own and the AWS SDK's.
 */
export function readsEnv(kind: "n8n" | "task-runner", name: string): boolean {
  const known = knownEnvNames(kind);
  if (known.has(name)) return true;
  if (kind !== "n8n") return false;
  return (
    NODE_RUNTIME_ENV.has(name) ||
    AWS_SDK_ENV.has(name) ||
    (name.endsWith("_FILE") && known.has(name.slice(0, -"_FILE".length)))
  );
}
