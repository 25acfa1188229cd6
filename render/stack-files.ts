/**
 * Reads Pulumi.<stack>.yaml the way the CLI hands config to a program: objects and lists as JSON
 * text, scalars as text. Secure values cannot be decrypted offline: they become placeholders.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export interface StackFile {
  config: Record<string, string>;
  secretKeys: string[];
}

const STACK_FILE = /^Pulumi\.([A-Za-z0-9_.-]+)\.yaml$/;

export function listStacks(dir: string): string[] {
  return readdirSync(dir)
    .map((f) => STACK_FILE.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

/** A stand-in for a secure value: long enough to pass length checks, and plainly not a secret. */
export function placeholderFor(key: string): string {
  return `render-placeholder-for-${key}`.padEnd(40, "-x");
}

function isSecure(v: unknown): v is { secure: string } {
  return typeof v === "object" && v !== null && Object.keys(v).length === 1 && "secure" in v;
}

/** Replaces nested secure values; reports whether any was found. */
function replaceSecure(key: string, v: unknown): { value: unknown; secret: boolean } {
  if (isSecure(v)) return { value: placeholderFor(key), secret: true };
  if (Array.isArray(v)) {
    const items = v.map((item) => replaceSecure(key, item));
    return { value: items.map((i) => i.value), secret: items.some((i) => i.secret) };
  }
  if (typeof v === "object" && v !== null) {
    const entries = Object.entries(v).map(([k, item]) => [k, replaceSecure(key, item)] as const);
    return {
      value: Object.fromEntries(entries.map(([k, i]) => [k, i.value])),
      secret: entries.some(([, i]) => i.secret),
    };
  }
  return { value: v, secret: false };
}

export function stackConfigFromYaml(text: string, project: string): StackFile {
  const doc = (parse(text) ?? {}) as { config?: Record<string, unknown> };
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [rawKey, rawValue] of Object.entries(doc.config ?? {})) {
    const key = rawKey.includes(":") ? rawKey : `${project}:${rawKey}`;
    const { value, secret } = replaceSecure(key.split(":").pop() as string, rawValue);
    config[key] = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
    if (secret) secretKeys.push(key);
  }
  return { config, secretKeys };
}

export function readStackFile(dir: string, stack: string, project: string): StackFile | undefined {
  const file = join(dir, `Pulumi.${stack}.yaml`);
  if (!existsSync(file)) return undefined;
  return stackConfigFromYaml(readFileSync(file, "utf8"), project);
}
