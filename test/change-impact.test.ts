/**
 * What restarts when a user changes a value. Kubernetes rolls a workload when its pod template
 * changes (and replaces a Job whose template changes), so render the prod stack twice, with one
 * value changed, and compare every pod template: only the parts that must restart may differ.
 */
import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import { imageVersion } from "../components/kubernetes/labels";
import type { StackRun } from "../render/run";
import { podsOf, rawStackConfig, runProgram } from "./harness";

type Raw = Record<string, unknown>;

/** A copy of the prod stack's raw config (or of `base`) with `path` set to `value`. */
function withValue(path: string, value: unknown, base: Raw = rawStackConfig("prod")): Raw {
  const raw = structuredClone(base);
  const keys = path.split(".");
  let node = raw as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) {
    node[k] = { ...((node[k] as Record<string, unknown> | undefined) ?? {}) };
    node = node[k] as Record<string, unknown>;
  }
  node[keys.at(-1) as string] = value;
  return raw;
}

function templates(run: StackRun): Map<string, unknown> {
  return new Map(podsOf(run.manifests).map((p) => [`${p.owner.kind}/${p.owner.metadata.name}`, p]));
}

/** The workloads (kind/name) whose pod template differs between two renders. */
async function restartedBy(path: string, value: unknown, also: [string, unknown][] = []): Promise<string[]> {
  const before = templates(await runProgram("prod", rawStackConfig("prod")));
  let changed = withValue(path, value);
  for (const [p, v] of also) changed = withValue(p, v, changed);
  const after = templates(await runProgram("prod", changed));
  const names = new Set([...before.keys(), ...after.keys()]);
  return [...names].filter((n) => !isDeepStrictEqual(before.get(n), after.get(n))).sort();
}

const N8N = ["Deployment/n8n-main", "Deployment/n8n-webhook", "Deployment/n8n-worker"];

describe("change impact: which pod templates a config change rolls", () => {
  it("an n8n upgrade rolls the n8n processes only, after the new release's pre-upgrade dump, not PostgreSQL or Redis", async () => {
    // The dump Job is named after the release: the upgrade replaces it, and main waits for it.
    expect(await restartedBy("n8n.version", "2.41.0")).toEqual(
      ["Job/n8n-pre-upgrade-dump-2-40-7", "Job/n8n-pre-upgrade-dump-2-41-0", ...N8N].sort(),
    );
  });

  it("moving binary data to S3 rolls the n8n processes only (they read the new env), not PostgreSQL or Redis", async () => {
    const license = { name: "n8n-license", key: "activation-key" };
    expect(await restartedBy("n8n.binaryData", { mode: "s3" }, [["n8n.license", license]])).toEqual(N8N);
  });

  it("a Spilo image bump rolls PostgreSQL and the Jobs that run its image, nothing of n8n or Redis", async () => {
    const changed = await restartedBy("postgres.image", "ghcr.io/zalando/spilo-17:4.0-p4");
    expect(changed).toContain("StatefulSet/n8n-postgres");
    expect(changed.filter((n) => n.includes("n8n-redis") || N8N.includes(n))).toEqual([]);
  });

  it("a Redis image bump rolls Redis only", async () => {
    expect(await restartedBy("redis.image", "docker.io/library/redis:7.4.7")).toEqual(["StatefulSet/n8n-redis"]);
  });

  it("raising workers.maxReplicas rolls nothing: max_connections reaches Patroni's dynamic config", async () => {
    const changed = await restartedBy("workers.maxReplicas", 14);
    expect(changed.filter((n) => n !== "Job/n8n-postgres-patroni-config")).toEqual([]);
  });

  it("Patroni's timings and failsafe_mode roll no pod: the patroni-config Job PATCHes them in", async () => {
    for (const [key, value] of [
      ["postgres.patroni.ttl", 20],
      ["postgres.patroni.failsafeMode", false],
    ] as const) {
      const changed = await restartedBy(key, value);
      expect(changed).toContain("Job/n8n-postgres-patroni-config");
      expect(changed.filter((n) => n !== "Job/n8n-postgres-patroni-config")).toEqual([]);
    }
  });

  it("the queue-recovery interval rolls main only", async () => {
    expect(await restartedBy("n8n.executions.queueRecoveryMinutes", 10)).toEqual(["Deployment/n8n-main"]);
  });

  it("a dynamic PostgreSQL parameter (the archive timeout) rolls no PostgreSQL member", async () => {
    const changed = await restartedBy("postgres.archive.timeoutSeconds", 120);
    expect(changed).not.toContain("StatefulSet/n8n-postgres");
  });

  it("a Redis setting rolls Redis and nothing else", async () => {
    expect(await restartedBy("redis.storageSize", "20Gi")).toEqual(["StatefulSet/n8n-redis"]);
  });

  it("the edge (kind, migration, limits, allowlist) rolls nothing: no pod template reads it", async () => {
    expect(await restartedBy("edge.kind", "ingress")).toEqual([]);
    expect(await restartedBy("edge.keepIngress", true)).toEqual([]);
    expect(await restartedBy("edge.rateLimitRps", 50, [["edge.allowlistCidrs", ["10.0.0.0/8"]]])).toEqual([]);
  });
});

describe("the version a part is labelled with", () => {
  it("is its image's tag, or the start of its digest, and fits a label value", () => {
    expect(imageVersion("ghcr.io/zalando/spilo-17:4.0-p3")).toBe("4.0-p3");
    expect(imageVersion("registry.local:5000/redis:7.4.6")).toBe("7.4.6");
    expect(imageVersion("registry.local:5000/redis")).toBe("latest");
    expect(imageVersion(`docker.io/library/redis@sha256:${"a".repeat(64)}`)).toBe("a".repeat(12));
    expect(imageVersion(`redis:7.4.6@sha256:${"b".repeat(64)}`)).toBe("7.4.6");
    expect(imageVersion(`redis:${"x".repeat(80)}`)).toHaveLength(63);
  });
});
