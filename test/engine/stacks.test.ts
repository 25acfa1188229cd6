/**
 * `pulumi up` of both stacks with the real engine and Kubernetes provider against a real API server
 * (scripts/engine-setup.sh builds them; README: The engine test loop). The program runs through the
 * language-host stand-in (support/engine/program-host.ts); random and aws are stand-in providers
 * (support/engine/providers), the AWS one backed by moto. kwok's nodes run no container.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EngineWorld, liveOf, notReady, startWorld } from "../../support/engine/cluster";
import { KubeError, objectPath } from "../../support/engine/kube";
import type { EngineStack } from "../../support/engine/pulumi";
import { manifests } from "../../support/servers";

const STACKS = ["staging", "prod"] as const;
let world: EngineWorld;
const stacks: Record<string, EngineStack> = {};

beforeAll(async () => {
  world = await startWorld();
  for (const s of STACKS) stacks[s] = await world.stack(s);
}, 600_000);

afterAll(async () => {
  await world?.stop();
});

function namespaceOf(stack: string): string {
  const ns = manifests(stack).find((m) => m.kind === "Namespace");
  if (!ns) throw new Error(`${stack} renders no Namespace`);
  return ns.metadata.name;
}

describe.sequential("pulumi up with the real engine", () => {
  for (const stack of STACKS) {
    it(`${stack}: up completes; every rendered object exists; workloads are ready; Jobs complete`, async () => {
      const run = await stacks[stack]!.up();
      expect(run.stdout).toMatch(/Resources:/);
      const missing: string[] = [];
      const waiting: string[] = [];
      for (const m of manifests(stack)) {
        const live = await liveOf(world.kube, m);
        if (!live) {
          missing.push(`${m.kind}/${m.metadata.namespace ?? ""}/${m.metadata.name}`);
          continue;
        }
        const why = notReady(live);
        if (why) waiting.push(why);
      }
      expect(missing).toEqual([]);
      // Pulumi waited for them: right after `up`, nothing is still rolling out.
      expect(waiting).toEqual([]);
    });

    it(`${stack}: the Namespace's restricted level is enforced by the PodSecurity admission plugin`, async () => {
      const ns = namespaceOf(stack);
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "privileged-probe", namespace: ns },
        spec: { containers: [{ name: "c", image: "busybox", securityContext: { privileged: true } }] },
      };
      const err = await world.kube.json("POST", objectPath("v1", "Pod", undefined, ns), pod).catch((e) => e);
      expect(err).toBeInstanceOf(KubeError);
      expect((err as KubeError).status).toBe(403);
      expect((err as KubeError).body).toMatch(/violates PodSecurity "restricted:latest"/);
      // The program's own pods were admitted under the same level: they exist and run.
      const pods = await world.kube.list(objectPath("v1", "Pod", undefined, ns));
      expect(pods.length).toBeGreaterThan(0);
    });

    it(`${stack}: a second preview --expect-no-changes passes`, async () => {
      const run = await stacks[stack]!.preview(["--expect-no-changes", "--diff"], { allowFailure: true });
      expect(run.code, run.stdout + run.stderr).toBe(0);
    });
  }
});
