/**
 * The README's config table, generated from the zod schema so that it cannot drift: every key, its
 * type, its default and its description. Pure.
 */
import type { z } from "zod";
import { SIZE_PRESETS } from "./presets";
import { stackConfigSchema } from "./schema";

export interface ConfigKeyDoc {
  key: string;
  type: string;
  default: string;
  description: string;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  entries?: Record<string, string>;
  element?: z.ZodType;
  options?: z.ZodType[];
  defaultValue?: unknown;
  checks?: { _zod: { def: { check: string; format?: string } } }[];
  format?: string;
}

const defOf = (s: z.ZodType) => s.def as unknown as Def;

/** Keys whose default comes from the size preset rather than the schema. */
function presetDefault(path: string): string | undefined {
  const parts = path.split(".");
  let node: unknown = SIZE_PRESETS.small;
  for (const p of parts) {
    if (node === null || typeof node !== "object" || !(p in node)) return undefined;
    node = (node as Record<string, unknown>)[p];
  }
  if (typeof node === "object") return undefined;
  const values = (["small", "medium", "large"] as const).map((size) => {
    let v: unknown = SIZE_PRESETS[size];
    for (const p of parts) v = (v as Record<string, unknown>)[p];
    return String(v);
  });
  return `preset: ${values.join(" / ")}`;
}

function typeName(s: z.ZodType): string {
  const d = defOf(s);
  switch (d.type) {
    case "optional":
    case "default":
    case "prefault":
      return typeName(d.innerType as z.ZodType);
    case "pipe":
      return typeName(d.in as z.ZodType);
    case "enum":
      return Object.values(d.entries ?? {})
        .map((v) => `"${v}"`)
        .join(" \\| ");
    case "array":
      return `list of ${typeName(d.element as z.ZodType)}`;
    case "record":
      return "map";
    case "union":
      return "quantity";
    case "number":
      return d.checks?.some((c) => c._zod.def.format === "safeint") || d.format === "safeint" ? "integer" : "number";
    default:
      return d.type;
  }
}

function defaultOf(s: z.ZodType): unknown {
  const d = defOf(s);
  if (d.type === "default") return d.defaultValue;
  if (d.type === "optional" || d.type === "prefault") return defaultOf(d.innerType as z.ZodType);
  return undefined;
}

function objectShape(s: z.ZodType): Record<string, z.ZodType> | undefined {
  const d = defOf(s);
  if (d.type === "object") return d.shape;
  if (d.type === "prefault" || d.type === "default" || d.type === "optional")
    return objectShape(d.innerType as z.ZodType);
  return undefined;
}

function walk(shape: Record<string, z.ZodType>, prefix: string, out: ConfigKeyDoc[]): void {
  for (const [name, schema] of Object.entries(shape)) {
    const key = prefix ? `${prefix}.${name}` : name;
    const nested = objectShape(schema);
    if (nested) {
      walk(nested, key, out);
      continue;
    }
    const dflt = defaultOf(schema);
    out.push({
      key,
      type: typeName(schema),
      default: dflt !== undefined ? JSON.stringify(dflt) : (presetDefault(key) ?? "—"),
      description: schema.description ?? "",
    });
  }
}

export function configKeyDocs(): ConfigKeyDoc[] {
  const out: ConfigKeyDoc[] = [];
  walk(stackConfigSchema.shape as Record<string, z.ZodType>, "", out);
  out.push({
    key: "encryptionKey",
    type: "secret string",
    default: "generated (48 characters)",
    description: "n8n's credential encryption key; set with `pulumi config set --secret encryptionKey`",
  });
  return out;
}

export function configTableMarkdown(): string {
  const esc = (t: string) => t.replace(/\|/g, "\\|");
  const rows = configKeyDocs().map(
    (d) => `| \`${d.key}\` | ${d.type} | ${d.default === "—" ? "—" : `\`${d.default}\``} | ${esc(d.description)} |`,
  );
  return ["| key | type | default | description |", "|---|---|---|---|", ...rows].join("\n");
}

export const TABLE_START = "<!-- config-table:start -->";
export const TABLE_END = "<!-- config-table:end -->";

/** The README text with the table between its markers replaced. */
export function withConfigTable(readme: string, table: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md lacks ${TABLE_START} ... ${TABLE_END}`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}\n${readme.slice(end)}`;
}
