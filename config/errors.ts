/**
 * One readable message for every config mistake: `stack "<name>": <key path> (<value>) <what is allowed>`,
 * one line per mistake, never a stack trace. Pure.
 */
import type { z } from "zod";
import type { Problem } from "./rules";

/** A user mistake in the stack config. Callers print `message` and exit; no stack trace is shown. */
export class ConfigError extends Error {
  constructor(
    readonly stackName: string,
    readonly problems: Problem[],
  ) {
    super(problems.map((p) => formatProblem(stackName, p)).join("\n"));
    this.name = "ConfigError";
  }
}

const MAX_VALUE_LENGTH = 60;

export function showValue(value: unknown): string {
  if (value === undefined) return "not set";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_VALUE_LENGTH ? `${text.slice(0, MAX_VALUE_LENGTH - 3)}...` : text;
}

export function formatProblem(stack: string, p: Problem): string {
  return `stack "${stack}": ${p.path || "(config)"} (${showValue(p.value)}) ${p.message}`;
}

function joinPath(path: readonly PropertyKey[]): string {
  return path
    .map((k) => (typeof k === "number" ? `[${k}]` : String(k)))
    .join(".")
    .replace(/\.\[/g, "[");
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Turns zod issues into problems; zod's own texts are replaced by the schema's "must be ..." texts. */
export function problemsFromZod(error: z.ZodError, raw: unknown): Problem[] {
  return error.issues.flatMap((issue) => problemsOf(issue, raw)).map(hideEnvValues);
}

const HIDDEN = "(hidden)";

/** extraEnv values may be credentials written by mistake: a message names them, never shows them. */
function hideEnvValues(p: Problem): Problem {
  if (!p.path.includes("extraEnv")) return p;
  if (p.path.endsWith(".value")) return { ...p, value: p.value === undefined ? undefined : HIDDEN };
  const hide = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(hide)
      : v !== null && typeof v === "object"
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === "value" ? HIDDEN : hide(x)]))
        : v;
  return { ...p, value: hide(p.value) };
}

function problemsOf(issue: z.ZodError["issues"][number], raw: unknown): Problem[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({
      path: joinPath([...issue.path, key]),
      value: valueAt(raw, [...issue.path, key]),
      message: issue.message,
    }));
  }
  const input = (issue as { input?: unknown }).input;
  if (input === undefined && issue.code === "invalid_type") {
    return [{ path: joinPath(issue.path), value: undefined, message: `is required (it ${issue.message})` }];
  }
  return [{ path: joinPath(issue.path), value: input, message: issue.message }];
}
