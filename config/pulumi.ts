/**
 * Reads the stack's `n8n-cluster:` config from the Pulumi runtime (the CLI, or the mock runtime of the
 * offline render and the tests) and validates it. The only config module that touches Pulumi.
 */
import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import { parseStackConfig } from ".";
import { ConfigError } from "./errors";
import type { StackConfig } from "./resolve";
import { MIN_ENCRYPTION_KEY_LENGTH, SECRET_KEYS, type SecretKey, stackConfigSchema } from "./schema";

/** Top-level keys whose schema is a plain string: their config value is taken as text, never JSON. */
const STRING_KEYS = new Set(
  Object.entries(stackConfigSchema.shape)
    .filter(([, schema]) => unwrap(schema).def.type === "string" || unwrap(schema).def.type === "enum")
    .map(([key]) => key),
);

function unwrap(schema: z.ZodType): z.ZodType {
  const def = schema.def as { type: string; innerType?: z.ZodType };
  return def.innerType ? unwrap(def.innerType) : schema;
}

/**
 * Structured config arrives as JSON text (that is how the CLI passes objects and lists); scalars as
 * text. A value that is not JSON is a plain string.
 */
export function decodeConfigValue(key: string, text: string): unknown {
  if (STRING_KEYS.has(key)) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The project's keys of a config map (`project:key` -> text) as the object the schema validates;
 * the secret keys stay out of it (they are read as secrets, never parsed or echoed).
 */
export function decodeProjectConfig(all: Record<string, string>, project: string): Record<string, unknown> {
  const prefix = `${project}:`;
  const secretKeys = new Set<string>(SECRET_KEYS);
  const raw: Record<string, unknown> = {};
  for (const [fullKey, text] of Object.entries(all)) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    if (!secretKeys.has(key)) raw[key] = decodeConfigValue(key, text);
  }
  return raw;
}

export interface LoadedStack {
  config: StackConfig;
  secrets: Partial<Record<SecretKey, pulumi.Output<string>>>;
}

/** Reads and validates the config of the current stack; throws ConfigError on a user mistake. */
export function loadStackConfig(project: string = pulumi.getProject()): LoadedStack {
  const stack = pulumi.getStack();
  const config = parseStackConfig(stack, decodeProjectConfig(pulumi.runtime.allConfig(), project));

  const cfg = new pulumi.Config(project);
  const secrets: LoadedStack["secrets"] = {};
  for (const key of SECRET_KEYS) {
    const text = cfg.get(key);
    if (text === undefined) continue;
    if (!isSecretInRuntime(fullKeyOf(project, key))) {
      throw new ConfigError(stack, [
        { path: key, value: "<hidden>", message: `must be set as a secret: pulumi config set --secret ${key}` },
      ]);
    }
    if (text.length < MIN_ENCRYPTION_KEY_LENGTH) {
      throw new ConfigError(stack, [
        {
          path: key,
          value: `<secret of ${text.length} characters>`,
          message: `must be at least ${MIN_ENCRYPTION_KEY_LENGTH} characters`,
        },
      ]);
    }
    if (config.secrets.sources[key] !== "program") {
      throw new ConfigError(stack, [
        {
          path: key,
          value: "<hidden>",
          message: `must not be set together with ${config.secrets.sources[key] === "existing-secret" ? "secrets.existing" : "secrets.externalSecret.remoteRefs"}.${key}: the key comes from one place (pulumi config rm ${key})`,
        },
      ]);
    }
    secrets[key] = cfg.requireSecret(key);
  }
  return { config, secrets };
}

function fullKeyOf(project: string, key: string): string {
  return `${project}:${key}`;
}

/**
 * Whether the runtime marks a config key secret. The SDK keeps `isConfigSecret` out of its typings;
 * where it is missing, nothing can be checked and the value is still handled as a secret.
 */
function isSecretInRuntime(fullKey: string): boolean {
  const runtime = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
  return runtime.isConfigSecret ? runtime.isConfigSecret(fullKey) : true;
}
