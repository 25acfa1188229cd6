/**
 * The creation order the cluster declares reaches every resource. Pulumi sends the engine a
 * resource's own `dependsOn` only, so a component's `dependsOn` orders none of its children unless
 * each child takes it (components/children.ts). These tests read the dependency graph the program
 * registers, as `pulumi up` would send it.
 */
import { describe, expect, it, vi } from "vitest";
import { PROJECT } from "../components/kubernetes/names";
import { parseStackConfig } from "../config";
import { runStack, type StackRun } from "../render/run";
import { dependencyGraph, IRSA_ARCHIVE, runProgram, runStackFile } from "./harness";

const RUNS: [string, () => Promise<StackRun>][] = [
  ["staging", () => runStackFile("staging")],
  ["prod", () => runStackFile("prod")],
  [
    "KEDA, outbox and n8n's data in S3 (irsa)",
    () =>
      runProgram("ordering", {
        domain: "n8n.example.com",
        webhooks: { enabled: true },
        workers: { queueScaling: "keda" },
        postgres: { archive: IRSA_ARCHIVE, outbox: { enabled: true } },
        n8n: { license: { name: "n8n-license", key: "key" }, binaryData: { mode: "s3" } },
      }),
  ],
];

const WORKLOADS = new Set([
  "kubernetes:apps/v1:Deployment",
  "kubernetes:apps/v1:StatefulSet",
  "kubernetes:batch/v1:Job",
  "kubernetes:batch/v1:CronJob",
]);

describe.each(RUNS)("the declared order reaches every resource: %s", (_label, run) => {
  it("each resource waits for everything its component waits for", async () => {
    const r = await run();
    const { byName } = dependencyGraph(r);
    const missing: string[] = [];
    let checked = 0;
    for (const res of r.resources) {
      const parent = res.parent ? byName.get(res.parent) : undefined;
      if (!parent || parent.dependencies.length === 0) continue;
      checked++;
      for (const dep of parent.dependencies) {
        if (!res.dependencies.includes(dep)) missing.push(`${res.name} does not wait for ${dep.split("::").pop()}`);
      }
    }
    expect(missing).toEqual([]);
    // The Secrets, the servers, the object storage and the three n8n roles are ordered components.
    expect(checked).toBeGreaterThan(30);
  });

  it("no pod starts before the NetworkPolicies, and none before the Secrets it reads", async () => {
    const r = await run();
    const { named, waitsFor } = dependencyGraph(r);
    const policies = r.resources
      .filter((x) => x.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy")
      .map((x) => x.name);
    expect(policies).toContain("n8n-network-default-deny");
    const workloads = r.resources.filter((x) => WORKLOADS.has(x.type));
    expect(workloads.length).toBeGreaterThan(5);
    for (const w of workloads) {
      const after = waitsFor(w);
      expect(
        policies.filter((p) => !after.has(p)),
        `${w.name} starts before these NetworkPolicies`,
      ).toEqual([]);
    }
    expect(waitsFor(named("n8n-redis-statefulset"))).toContain("n8n-secrets-redis");
    expect(waitsFor(named("n8n-postgres-statefulset"))).toContain("n8n-secrets-postgres");
    expect(waitsFor(named("n8n-main-deployment"))).toContain("n8n-secrets-n8n");
  });
});

describe("a cluster ordered after something of yours", () => {
  it("every resource of it waits for that (a cert-manager release, say, in your own program)", async () => {
    const run = await runStack({
      project: PROJECT,
      stack: "wrapped",
      config: {},
      secretKeys: [],
      load: async () => {
        vi.resetModules();
        const k8s = await import("@pulumi/kubernetes");
        const { N8nCluster } = await import("../components/cluster");
        const prerequisite = new k8s.core.v1.ConfigMap("prerequisite", { metadata: { namespace: "n8n" } });
        const config = parseStackConfig("wrapped", { domain: "n8n.example.com", webhooks: { enabled: true } });
        new N8nCluster("n8n", { config, namespace: "n8n" }, { dependsOn: [prerequisite] });
        return {};
      },
    });
    const { named } = dependencyGraph(run);
    const prerequisite = named("prerequisite").urn;
    const inCluster = run.resources.filter((r) => r.name !== "prerequisite");
    expect(inCluster.length).toBeGreaterThan(50);
    expect(inCluster.filter((r) => !r.dependencies.includes(prerequisite)).map((r) => r.name)).toEqual([]);
  });
});
