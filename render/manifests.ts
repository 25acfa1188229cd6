/**
 * Turns recorded resources into the render contract's outputs (README: Quick start): Kubernetes
 * manifests as the provider would receive them, the resource list, and the summary. Pure.
 */
import { stringify } from "yaml";
import { cpuCores, formatCpu, formatMemory, memoryBytes } from "../config/quantity";
import type { RecordedResource } from "./mocks";

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
};

/** Kinds that live outside namespaces; every other kind must carry metadata.namespace. */
export const CLUSTER_SCOPED_KINDS = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "ClusterIssuer",
  "CustomResourceDefinition",
  "PriorityClass",
  "StorageClass",
  "PersistentVolume",
]);

const K8S_TYPE = /^kubernetes:(?:([a-z0-9.-]+)\/)?(v[0-9a-z]+):([A-Za-z]+)$/;

/** "kubernetes:apps/v1:Deployment" -> { apiVersion: "apps/v1", kind: "Deployment" }; undefined for non-objects. */
export function apiVersionKind(type: string): { apiVersion: string; kind: string } | undefined {
  const m = K8S_TYPE.exec(type);
  if (!m) return undefined;
  const group = m[1] === undefined || m[1] === "core" ? undefined : m[1];
  return { apiVersion: group ? `${group}/${m[2]}` : (m[2] as string), kind: m[3] as string };
}

/** Replaces every value of a Secret's data/stringData with a placeholder naming it. */
function redactSecret(name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const out = { ...inputs };
  for (const field of ["data", "stringData"] as const) {
    const values = inputs[field] as Record<string, unknown> | undefined;
    if (values) {
      out[field] = Object.fromEntries(Object.keys(values).map((k) => [k, `<secret:${name}/${k}>`]));
    }
  }
  return out;
}

function isSecretType(type: string): boolean {
  return type === "kubernetes:core/v1:Secret";
}

/** Drops undefined members so YAML and JSON output carry only what was set. */
function clean<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Inputs as they may be written out: Secret values replaced by placeholders. */
export function safeInputs(r: RecordedResource): Record<string, unknown> {
  const inputs = clean(r.inputs);
  if (!isSecretType(r.type)) return inputs;
  const name = ((inputs.metadata as { name?: string } | undefined)?.name ?? r.name) as string;
  return redactSecret(name, inputs);
}

export function toManifests(resources: RecordedResource[]): Manifest[] {
  const manifests: Manifest[] = [];
  for (const r of resources) {
    if (!r.custom) continue;
    const gvk = apiVersionKind(r.type);
    if (!gvk) continue;
    const { apiVersion: _a, kind: _k, metadata, ...rest } = safeInputs(r) as Manifest;
    // CustomResource inputs carry their own apiVersion/kind; typed resources get them from the type.
    const apiVersion = (r.inputs.apiVersion as string | undefined) ?? gvk.apiVersion;
    const kind = (r.inputs.kind as string | undefined) ?? gvk.kind;
    manifests.push({ apiVersion, kind, metadata, ...rest });
  }
  return manifests;
}

export function manifestsYaml(manifests: Manifest[]): string {
  return manifests.map((m) => stringify(m, { lineWidth: 0, sortMapEntries: false })).join("---\n");
}

export function resourcesJson(resources: RecordedResource[]): string {
  const list = resources.map((r) => ({
    type: r.type,
    name: r.name,
    parent: r.parent ?? null,
    inputs: safeInputs(r),
  }));
  return `${JSON.stringify(list, null, 2)}\n`;
}

interface Container {
  name: string;
  restartPolicy?: string;
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { cpu?: string; memory?: string } };
}

export interface WorkloadSummary {
  kind: string;
  name: string;
  replicas: number;
  maxReplicas: number;
  requests: { cpu: number; memory: number };
  limits: { cpu: number; memory: number };
}

function podContainers(m: Manifest): Container[] {
  const spec = m.spec as { template?: { spec?: { containers?: Container[]; initContainers?: Container[] } } };
  const pod = spec?.template?.spec;
  // Plain init containers finish before the others start; native sidecars (restartPolicy Always) keep running.
  const sidecars = (pod?.initContainers ?? []).filter((c) => c.restartPolicy === "Always");
  return [...sidecars, ...(pod?.containers ?? [])];
}

/** Per Deployment/StatefulSet: replicas now and at HPA maximum, and per-pod requests/limits. */
export function workloadSummaries(manifests: Manifest[]): WorkloadSummary[] {
  const hpaMax = new Map<string, number>();
  for (const m of manifests) {
    if (m.kind !== "HorizontalPodAutoscaler") continue;
    const spec = m.spec as { scaleTargetRef: { kind: string; name: string }; maxReplicas: number };
    hpaMax.set(`${spec.scaleTargetRef.kind}/${spec.scaleTargetRef.name}`, spec.maxReplicas);
  }
  return manifests
    .filter((m) => m.kind === "Deployment" || m.kind === "StatefulSet")
    .map((m) => {
      const replicas = (m.spec as { replicas?: number }).replicas ?? 1;
      const sum = (pick: (c: Container) => string | undefined, parse: (q: string) => number) =>
        podContainers(m).reduce((total, c) => {
          const q = pick(c);
          return total + (q === undefined ? 0 : parse(q));
        }, 0);
      return {
        kind: m.kind,
        name: m.metadata.name,
        replicas,
        maxReplicas: hpaMax.get(`${m.kind}/${m.metadata.name}`) ?? replicas,
        requests: {
          cpu: sum((c) => c.resources?.requests?.cpu, cpuCores),
          memory: sum((c) => c.resources?.requests?.memory, memoryBytes),
        },
        limits: {
          cpu: sum((c) => c.resources?.limits?.cpu, cpuCores),
          memory: sum((c) => c.resources?.limits?.memory, memoryBytes),
        },
      };
    });
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** The render's stdout summary: objects by kind, then workloads with totals now and at HPA maximum. */
export function summary(stack: string, manifests: Manifest[], resourceCount: number): string {
  const byKind = new Map<string, number>();
  for (const m of manifests) byKind.set(m.kind, (byKind.get(m.kind) ?? 0) + 1);
  const kinds = [...byKind.entries()].sort(([a], [b]) => a.localeCompare(b));
  const workloads = workloadSummaries(manifests);
  const total = (n: (w: WorkloadSummary) => number, at: "replicas" | "maxReplicas") =>
    workloads.reduce((t, w) => t + n(w) * w[at], 0);
  const fmt = (at: "replicas" | "maxReplicas") => [
    formatCpu(total((w) => w.requests.cpu, at)),
    formatMemory(total((w) => w.requests.memory, at)),
    formatCpu(total((w) => w.limits.cpu, at)),
    formatMemory(total((w) => w.limits.memory, at)),
  ];
  const lines = [
    `stack ${stack}: ${manifests.length} Kubernetes objects, ${resourceCount} resources in all`,
    "",
    table([["kind", "count"], ...kinds.map(([k, n]) => [k, String(n)])]),
  ];
  if (workloads.length > 0) {
    lines.push(
      "",
      table([
        ["workload", "replicas", "max", "cpu req/pod", "mem req/pod", "cpu lim/pod", "mem lim/pod"],
        ...workloads.map((w) => [
          `${w.kind}/${w.name}`,
          String(w.replicas),
          String(w.maxReplicas),
          formatCpu(w.requests.cpu),
          formatMemory(w.requests.memory),
          formatCpu(w.limits.cpu),
          formatMemory(w.limits.memory),
        ]),
      ]),
      "",
      table([
        ["total", "cpu requests", "memory requests", "cpu limits", "memory limits"],
        ["now", ...fmt("replicas")],
        ["at HPA max", ...fmt("maxReplicas")],
      ]),
    );
  } else {
    lines.push("", "no workloads yet: requests and limits total 0");
  }
  return `${lines.join("\n")}\n`;
}
