/**
 * Invariants over everything a stack renders, whichever part made it: references resolve,
 * selectors select, every pod is restricted and sized, images are pinned.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { CLUSTER_SCOPED_KINDS, type Manifest } from "../render/manifests";
import type { StackRun } from "../render/run";
import { type Pod, podsOf, runProgram, runStackFile } from "./harness";

const containersOf = (p: Pod) => [...(p.spec.initContainers ?? []), ...p.spec.containers];
const id = (m: Manifest) => `${m.kind}/${m.metadata.name}`;
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

function checks(getRun: () => StackRun) {
  const byKind = (kind: string) => getRun().manifests.filter((m) => m.kind === kind);
  const names = (kind: string) => new Set(byKind(kind).map((m) => m.metadata.name));

  it("every secretKeyRef names a rendered Secret that has that key", () => {
    const secrets = new Map(
      byKind("Secret").map((s) => [s.metadata.name, Object.keys((s.stringData ?? s.data) as object)]),
    );
    let refs = 0;
    for (const pod of podsOf(getRun().manifests)) {
      for (const c of containersOf(pod)) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (!ref) continue;
          refs++;
          expect(secrets.get(ref.name), `${id(pod.owner)} ${c.name} ${e.name}`).toContain(ref.key);
        }
      }
    }
    expect(refs).toBeGreaterThan(5);
  });

  it("every ConfigMap volume and ServiceAccount a pod names is rendered", () => {
    const configMaps = names("ConfigMap");
    const accounts = names("ServiceAccount");
    for (const pod of podsOf(getRun().manifests)) {
      for (const v of pod.spec.volumes ?? [])
        if (v.configMap) expect(configMaps, id(pod.owner)).toContain(v.configMap.name);
      if (pod.spec.serviceAccountName) expect(accounts, id(pod.owner)).toContain(pod.spec.serviceAccountName);
      const volumes = new Set((pod.spec.volumes ?? []).map((v) => v.name));
      const claims = new Set(
        (
          (pod.owner.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? []
        ).map((t) => t.metadata.name),
      );
      for (const c of containersOf(pod)) {
        for (const m of c.volumeMounts ?? [])
          expect(volumes.has(m.name) || claims.has(m.name), `${id(pod.owner)} ${m.name}`).toBe(true);
      }
    }
  });

  it("every container has CPU and memory requests and limits, and a pinned image", () => {
    for (const pod of podsOf(getRun().manifests)) {
      for (const c of containersOf(pod)) {
        for (const kind of ["requests", "limits"] as const) {
          expect(c.resources?.[kind]?.cpu, `${id(pod.owner)}/${c.name} ${kind}.cpu`).toBeTruthy();
          expect(c.resources?.[kind]?.memory, `${id(pod.owner)}/${c.name} ${kind}.memory`).toBeTruthy();
        }
        expect(c.image, `${id(pod.owner)}/${c.name}`).toMatch(/^[a-z0-9._/-]+:[A-Za-z0-9._-]+$/);
        expect(c.image).not.toMatch(/:latest$/);
      }
    }
  });

  it("every pod meets Pod Security 'restricted'", () => {
    for (const pod of podsOf(getRun().manifests)) {
      expect(pod.spec.securityContext, id(pod.owner)).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
      for (const c of containersOf(pod)) {
        expect(c.securityContext, `${id(pod.owner)}/${c.name}`).toMatchObject({
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        });
      }
    }
  });

  it("every Service selects pods of a rendered workload, on a named port those pods have", () => {
    const pods = podsOf(getRun().manifests);
    for (const s of byKind("Service")) {
      const spec = s.spec as { selector: Record<string, string>; ports: { targetPort: string }[] };
      // Patroni sets the role label at run time; the template carries everything else.
      const { "spilo-role": _role, ...static_ } = spec.selector;
      const selected = pods.filter((p) => matches(static_, p.labels));
      expect(selected.length, s.metadata.name).toBeGreaterThan(0);
      for (const p of selected) {
        const ports = p.spec.containers.flatMap((c) => (c.ports ?? []).map((x) => x.name));
        for (const port of spec.ports) expect(ports, s.metadata.name).toContain(port.targetPort);
      }
    }
  });

  it("every PDB selects exactly one workload's pods", () => {
    const pods = podsOf(getRun().manifests).filter((p) => p.owner.kind !== "Job" && p.owner.kind !== "CronJob");
    for (const pdb of byKind("PodDisruptionBudget")) {
      const sel = (pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
      expect(
        pods.filter((p) => matches(sel, p.labels)).map((p) => id(p.owner)),
        pdb.metadata.name,
      ).toHaveLength(1);
    }
  });

  it("replicated workloads have a PDB", () => {
    const pdbSelectors = byKind("PodDisruptionBudget").map(
      (p) => (p.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels,
    );
    for (const pod of podsOf(getRun().manifests)) {
      if (!["Deployment", "StatefulSet"].includes(pod.owner.kind)) continue;
      expect(
        pdbSelectors.some((sel) => matches(sel, pod.labels)),
        id(pod.owner),
      ).toBe(true);
    }
  });

  it("every AWS resource goes through the explicit AWS provider, in the region WAL-G is told", () => {
    const { resources, manifests } = getRun();
    const providers = resources.filter((r) => r.type === "pulumi:providers:aws");
    expect(providers).toHaveLength(1);
    const provider = providers[0] as (typeof providers)[number];
    const spilo = podsOf(manifests)
      .find((p) => p.owner.kind === "StatefulSet" && p.owner.metadata.name === "n8n-postgres")
      ?.spec.containers.find((c) => c.name === "postgres");
    const walgRegion = spilo?.env?.find((e) => e.name === "AWS_REGION")?.value;
    expect(walgRegion).toMatch(/^[a-z]{2}-[a-z]+-\d$/);
    expect(provider.inputs.region).toBe(walgRegion);
    const aws = resources.filter((r) => r.custom && r.type.startsWith("aws:"));
    expect(aws.length).toBeGreaterThan(0);
    for (const r of aws) expect(r.provider?.startsWith(`${provider.urn}::`), `${r.type} ${r.name}`).toBe(true);
  });

  it("object names are unique per kind and namespaced objects carry the namespace", () => {
    const seen = new Set<string>();
    for (const m of getRun().manifests) {
      expect(seen.has(id(m)), id(m)).toBe(false);
      seen.add(id(m));
      if (!CLUSTER_SCOPED_KINDS.has(m.kind)) expect(m.metadata.namespace, id(m)).toBeTruthy();
    }
  });
}

describe.each(["staging", "prod"])("stack %s", (stack) => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStackFile(stack);
  });
  checks(() => run);
});

describe("a stack with every option on", () => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runProgram("full", {
      domain: "n8n.example.com",
      size: "medium",
      workers: { queueScaling: "keda" },
      postgres: { outbox: { enabled: true }, restore: { targetTime: "2026-11-20 10:00:00+00:00" } },
    });
  });
  checks(() => run);
});
