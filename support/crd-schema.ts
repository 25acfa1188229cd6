/**
 * Checks an object against a CRD's structural OpenAPI v3 schema the way the API server treats it:
 * types, required fields, enums, patterns and lengths are errors; fields the schema does not declare
 * are reported too, because the API server prunes them silently (the setting would be lost).
 * CEL rules (x-kubernetes-validations) are counted, not evaluated.
 */
import { execFileSync } from "node:child_process";
import { parseAllDocuments } from "yaml";

export interface OpenApiSchema {
  type?: string;
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: OpenApiSchema | boolean;
  items?: OpenApiSchema;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-validations"?: unknown[];
}

export interface CrdCheck {
  errors: string[];
  /** CEL rules on the paths the object uses, which this checker does not evaluate. */
  celRules: string[];
}

function typeOk(schema: OpenApiSchema, v: unknown): boolean {
  if (schema["x-kubernetes-int-or-string"]) return typeof v === "string" || Number.isInteger(v);
  switch (schema.type) {
    case undefined:
      return true;
    case "object":
      return typeof v === "object" && v !== null && !Array.isArray(v);
    case "array":
      return Array.isArray(v);
    case "integer":
      return Number.isInteger(v);
    case "number":
      return typeof v === "number";
    default:
      return typeof v === schema.type;
  }
}

export function checkAgainstSchema(schema: OpenApiSchema, value: unknown, path = ""): CrdCheck {
  const out: CrdCheck = { errors: [], celRules: [] };
  const at = path || "<root>";
  if (schema["x-kubernetes-validations"]) out.celRules.push(at);
  if (!typeOk(schema, value)) {
    out.errors.push(`${at}: must be ${schema.type}`);
    return out;
  }
  if (schema.enum && !schema.enum.includes(value)) out.errors.push(`${at}: must be one of ${schema.enum.join(", ")}`);
  if (typeof value === "string") {
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value))
      out.errors.push(`${at}: must match ${schema.pattern}`);
    if (schema.minLength !== undefined && value.length < schema.minLength) out.errors.push(`${at}: too short`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) out.errors.push(`${at}: too long`);
  }
  const merge = (c: CrdCheck) => {
    out.errors.push(...c.errors);
    out.celRules.push(...c.celRules);
  };
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) out.errors.push(`${at}: too few items`);
    value.forEach((item, i) => {
      if (schema.items) merge(checkAgainstSchema(schema.items, item, `${path}[${i}]`));
    });
  } else if (path === "metadata") {
    // The API server validates and keeps the root metadata as ObjectMeta, whatever the CRD says.
  } else if (schema.type === "object" && typeof value === "object" && value !== null) {
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in obj)) out.errors.push(`${at}: ${key} is required`);
    for (const [key, v] of Object.entries(obj)) {
      const child = schema.properties?.[key];
      const sub = path ? `${path}.${key}` : key;
      if (child) merge(checkAgainstSchema(child, v, sub));
      else if (typeof schema.additionalProperties === "object")
        merge(checkAgainstSchema(schema.additionalProperties, v, sub));
      else if (!schema["x-kubernetes-preserve-unknown-fields"] && schema.additionalProperties !== true) {
        out.errors.push(`${sub}: not in the schema (the API server would prune it)`);
      }
    }
  }
  return out;
}

/** The openAPIV3Schema of one served version of a CRD file, read from a git checkout at a tag. */
export function crdSchemaAt(gitDir: string, tag: string, file: string, version: string): OpenApiSchema {
  const text = execFileSync("git", ["--git-dir", gitDir, "show", `${tag}:${file}`], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  for (const doc of parseAllDocuments(text)) {
    const crd = doc.toJS() as {
      spec?: { versions?: { name: string; served: boolean; schema: { openAPIV3Schema: OpenApiSchema } }[] };
    };
    const v = crd?.spec?.versions?.find((x) => x.name === version);
    if (v) {
      if (!v.served) throw new Error(`${file} at ${tag}: version ${version} is not served`);
      return v.schema.openAPIV3Schema;
    }
  }
  throw new Error(`${file} at ${tag} has no version ${version}`);
}
