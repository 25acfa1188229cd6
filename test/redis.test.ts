import { beforeAll, describe, expect, it } from "vitest";
import { NAMES, SECRETS } from "../components/kubernetes/names";
import {
  DISABLED_COMMANDS,
  exporterContainer,
  redisConf,
  redisContainer,
  redisProps,
  redisStatefulSet,
} from "../components/redis";
import { parseStackConfig, type StackConfig } from "../config";
import type { StackRun } from "../render/run";
import { findManifest, runStackFile } from "./harness";

const base = { domain: "n8n.example.com" };
const cfg = (raw: Record<string, unknown> = {}): StackConfig => parseStackConfig("t", { ...base, ...raw });
const confLines = (c: StackConfig) => redisConf(c.redis).split("\n");

describe("redis.conf (pure)", () => {
  it("AOF every second with an RDB preamble, a secondary save line, noeviction under a maxmemory", () => {
    const lines = confLines(cfg({ redis: { maxmemory: "200Mi", resources: { limits: { memory: "256Mi" } } } }));
    for (const l of [
      "appendonly yes",
      "appendfsync everysec",
      "aof-use-rdb-preamble yes",
      "save 900 1",
      "maxmemory-policy noeviction",
      `maxmemory ${200 * 2 ** 20}`,
      "dir /data",
    ]) {
      expect(lines).toContain(l);
    }
  });

  it("derives maxmemory at 80 % of the memory limit", () => {
    expect(confLines(cfg({ redis: { resources: { limits: { memory: "1Gi" } } } }))).toContain(
      `maxmemory ${Math.floor(0.8 * 2 ** 30)}`,
    );
  });

  it("disables dangerous commands and takes the password from an included file, never inline", () => {
    const text = redisConf(cfg().redis);
    for (const c of DISABLED_COMMANDS) expect(text).toContain(`rename-command ${c} ""`);
    expect(text).not.toMatch(/^requirepass/m);
    expect(text).toContain("include /run/redis/auth.conf");
  });

  it("the container writes the password file from the Secret and probes authenticate", () => {
    const pod = redisStatefulSet(redisProps(cfg(), "ns")).spec.template.spec;
    const redis = redisContainer(redisProps(cfg(), "ns"));
    expect(pod.containers.map((c) => c.name)).toEqual(["redis", "exporter"]);
    expect(redis.args[0]).toContain('"$REDIS_PASSWORD" > /run/redis/auth.conf');
    const envNames = redis.env.map((e) => [
      e.name,
      "valueFrom" in e && "secretKeyRef" in e.valueFrom ? e.valueFrom.secretKeyRef.name : undefined,
    ]);
    expect(envNames).toEqual([
      ["REDIS_PASSWORD", SECRETS.redis.name],
      ["REDISCLI_AUTH", SECRETS.redis.name],
    ]);
    expect(redis.readinessProbe.exec.command.join(" ")).toContain("redis-cli");
    const exporter = exporterContainer(redisProps(cfg(), "ns"));
    expect(exporter.image).toBe("docker.io/oliver006/redis_exporter:v1.77.0");
    expect(exporter.ports).toEqual([{ name: "metrics", containerPort: 9121 }]);
    expect(pod.securityContext.runAsUser).toBe(999);
  });
});

describe.each(["staging", "prod"])("stack %s: Redis", (stack) => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStackFile(stack);
  });

  it("no generated secret, the Redis password included, appears in any ConfigMap", () => {
    const configMaps = run.manifests.filter((m) => m.kind === "ConfigMap");
    expect(configMaps.map((c) => c.metadata.name)).toContain(NAMES.redis);
    const text = JSON.stringify(configMaps);
    expect(run.secretValues.length).toBeGreaterThan(0);
    for (const s of run.secretValues) expect(text).not.toContain(s);
    // The Redis password is among the values checked: its RandomPassword was recorded.
    expect(run.resources.some((r) => r.name === "n8n-secrets-redis-password")).toBe(true);
  });

  it("Redis persists to a volume claim", () => {
    const sts = findManifest(run, "StatefulSet", NAMES.redis);
    const claims = (sts.spec as { volumeClaimTemplates: { metadata: { name: string } }[] }).volumeClaimTemplates;
    expect(claims.map((c) => c.metadata.name)).toEqual(["data"]);
  });
});
