/**
 * Test harness: runs the whole program (index.ts) for a stack under the mock runtime and returns
 * what it registered. Mocks are installed before the program loads; every run loads it afresh.
 */
import { resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { vi } from "vitest";
import { PROJECT } from "../components/kubernetes/names";
import { parseStackConfig } from "../config";
import { decodeProjectConfig } from "../config/pulumi";
import type { Manifest } from "../render/manifests";
import { runStack, type StackRun } from "../render/run";
import { readStackFile } from "../render/stack-files";

export const ROOT = resolve(__dirname, "..");

/** postgres.archive with IRSA, as an EKS stack sets it (the object storage takes its identity from here). */
export const IRSA_ARCHIVE = {
  credentials: "irsa",
  region: "eu-west-1",
  oidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
  oidcIssuer: "oidc.eks.eu-west-1.amazonaws.com/id/ABC",
};

/** Loads index.ts afresh: it registers its resources as it loads. */
export async function loadProgram(): Promise<Record<string, unknown>> {
  vi.resetModules();
  return (await import("..")) as Record<string, unknown>;
}

/** Runs index.ts with the given raw config (as a stack file would hold it) and stack secrets. */
export async function runProgram(
  stack: string,
  raw: Record<string, unknown>,
  secrets: Record<string, string> = {},
): Promise<StackRun> {
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...raw, ...secrets })) {
    config[`${PROJECT}:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return runStack({
    project: PROJECT,
    stack,
    config,
    secretKeys: Object.keys(secrets).map((k) => `${PROJECT}:${k}`),
    load: loadProgram,
  });
}

/** Runs index.ts with the committed Pulumi.<stack>.yaml. */
export async function runStackFile(stack: string): Promise<StackRun> {
  const file = readStackFile(ROOT, stack, PROJECT);
  if (!file) throw new Error(`no Pulumi.${stack}.yaml`);
  return runStack({
    project: PROJECT,
    stack,
    ...file,
    load: loadProgram,
  });
}

/** The value inside an Output (tests only). */
export function outputValue<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((done) => output.apply((v) => done(v)));
}

export function isSecretOutput(output: pulumi.Output<unknown>): Promise<boolean> {
  return pulumi.isSecret(output);
}

export function findManifest(run: StackRun, kind: string, name: string): Manifest {
  const m = run.manifests.find((x) => x.kind === kind && x.metadata.name === name);
  if (!m) throw new Error(`no ${kind}/${name} rendered`);
  return m;
}

export interface PodContainer {
  name: string;
  image: string;
  env?: ({ name: string; value?: string } & { valueFrom?: { secretKeyRef?: { name: string; key: string } } })[];
  ports?: { name: string }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string }[];
}
export interface PodSpec {
  containers: PodContainer[];
  initContainers?: PodContainer[];
  volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
  securityContext?: Record<string, unknown>;
  serviceAccountName?: string;
}
export interface Pod {
  owner: Manifest;
  labels: Record<string, string>;
  spec: PodSpec;
}

/** Pod templates of every workload kind, CronJobs included. */
export function podsOf(manifests: Manifest[]): Pod[] {
  const pods: Pod[] = [];
  for (const m of manifests) {
    const spec = m.spec as Record<string, unknown>;
    const template =
      m.kind === "CronJob"
        ? ((spec.jobTemplate as { spec: { template: unknown } }).spec.template as Pod)
        : ["Deployment", "StatefulSet", "Job"].includes(m.kind)
          ? (spec.template as Pod)
          : undefined;
    if (template) {
      const t = template as unknown as { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
      pods.push({ owner: m, labels: t.metadata?.labels ?? {}, spec: t.spec });
    }
  }
  return pods;
}

/** A committed stack file's config, decoded as the program receives it. */
export function rawStackConfig(stack: string): Record<string, unknown> {
  const file = readStackFile(ROOT, stack, PROJECT);
  if (!file) throw new Error(`no Pulumi.${stack}.yaml`);
  return decodeProjectConfig(file.config, PROJECT);
}

/** The config error text of a stack config ("" when it is accepted): what a user would read. */
export function configErrorText(raw: Record<string, unknown>, stack = "t"): string {
  try {
    parseStackConfig(stack, raw);
    return "";
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The dependency graph the program registers, as `pulumi up` would send it: `dependsOn(name)` is a
 * resource's direct dependencies by name, `waitsFor(resource)` everything it waits for, directly
 * or through what it waits for.
 */
export function dependencyGraph(run: StackRun) {
  type Resource = StackRun["resources"][number];
  const byName = new Map(run.resources.map((r) => [r.name, r]));
  const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
  const named = (name: string) => {
    const r = byName.get(name);
    if (!r) throw new Error(`no resource ${name}`);
    return r;
  };
  const nameOf = (urn: string) => byUrn.get(urn)?.name ?? urn;
  const dependsOn = (name: string) => named(name).dependencies.map(nameOf);
  const waitsFor = (r: Resource): Set<string> => {
    const seen = new Set<string>();
    const stack = [...r.dependencies];
    while (stack.length > 0) {
      const urn = stack.pop() as string;
      if (seen.has(urn)) continue;
      seen.add(urn);
      stack.push(...(byUrn.get(urn)?.dependencies ?? []));
    }
    return new Set([...seen].map(nameOf));
  };
  return { byName, named, dependsOn, waitsFor };
}
