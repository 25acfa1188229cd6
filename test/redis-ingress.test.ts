import { beforeAll, describe, expect, it } from "vitest";
import {
  clusterIssuerObject,
  ingressObjects,
  ingressProps,
  N8N_ENDPOINTS,
  productionPaths,
  TLS_SECRET,
} from "../components/ingress";
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
import { findManifest, runProgram, runStackFile } from "./harness";

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

describe("Ingress (pure)", () => {
  it("routes webhooks to the webhook processors when they exist, everything else to main", () => {
    const { editor, webhooks } = ingressObjects(ingressProps(cfg({ webhooks: { enabled: true } }), "ns"));
    const backends = (i: typeof editor) =>
      i.spec.rules[0]?.http.paths.map((p) => [p.path, p.backend.service.name, p.pathType]);
    expect(backends(editor)).toEqual([["/", NAMES.main, "Prefix"]]);
    expect(backends(webhooks)).toEqual(productionPaths().map((p) => [p.path, NAMES.webhook, p.pathType]));
    expect(productionPaths().map((p) => p.path)).toEqual([
      "/webhook/",
      "/webhook-waiting/",
      "/form/",
      "/form-waiting/",
      "/mcp/",
      "/webhook-waiting-slack",
      "/webhook-waiting-telegram",
    ]);
    // No production route may swallow a test endpoint (Prefix matches whole path elements).
    for (const t of Object.values(N8N_ENDPOINTS.test)) {
      expect(productionPaths().some((p) => p.path === `/${t}/`)).toBe(false);
    }
    const single = ingressObjects(ingressProps(cfg({ webhooks: { enabled: false } }), "ns")).webhooks;
    expect(single.spec.rules[0]?.http.paths.every((p) => p.backend.service.name === NAMES.main)).toBe(true);
  });

  it("TLS from cert-manager on the editor Ingress only (one Certificate), shared Secret, limits on both", () => {
    const { editor, webhooks } = ingressObjects(
      ingressProps(cfg({ ingress: { rateLimitRps: 7, bodySizeMb: 32 } }), "ns"),
    );
    expect(editor.metadata.annotations["cert-manager.io/cluster-issuer"]).toBe("letsencrypt-prod");
    expect(webhooks.metadata.annotations["cert-manager.io/cluster-issuer"]).toBeUndefined();
    for (const i of [editor, webhooks]) {
      expect(i.spec.ingressClassName).toBe("nginx");
      expect(i.spec.tls).toEqual([{ hosts: ["n8n.example.com"], secretName: TLS_SECRET }]);
      expect(i.metadata.annotations["nginx.ingress.kubernetes.io/limit-rps"]).toBe("7");
      expect(i.metadata.annotations["nginx.ingress.kubernetes.io/proxy-body-size"]).toBe("32m");
      expect(i.metadata.annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"]).toBe("true");
    }
  });

  it("an allowlist guards the editor, never the webhooks", () => {
    const { editor, webhooks } = ingressObjects(
      ingressProps(cfg({ ingress: { allowlistCidrs: ["203.0.113.0/24"] } }), "ns"),
    );
    expect(editor.metadata.annotations["nginx.ingress.kubernetes.io/whitelist-source-range"]).toBe("203.0.113.0/24");
    expect(webhooks.metadata.annotations).not.toHaveProperty("nginx.ingress.kubernetes.io/whitelist-source-range");
  });

  it("the ClusterIssuer solves HTTP-01 on the ingress class", () => {
    const issuer = clusterIssuerObject(
      ingressProps(
        cfg({ ingress: { createClusterIssuer: true, acmeEmail: "ops@example.com", clusterIssuer: "le" } }),
        "ns",
      ),
    );
    expect(issuer).toMatchObject({
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: "le" },
      spec: { acme: { email: "ops@example.com", solvers: [{ http01: { ingress: { ingressClassName: "nginx" } } }] } },
    });
  });
});

describe.each(["staging", "prod"])("stack %s: Redis and Ingress", (stack) => {
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

  it("every Ingress has TLS for the stack's domain", () => {
    const ingresses = run.manifests.filter((m) => m.kind === "Ingress");
    expect(ingresses).toHaveLength(2);
    const domain = stack === "prod" ? "n8n.example.com" : "n8n.staging.example.com";
    for (const i of ingresses) {
      expect((i.spec as { tls: { hosts: string[] }[] }).tls[0]?.hosts).toEqual([domain]);
    }
  });

  it("Redis persists to a volume claim", () => {
    const sts = findManifest(run, "StatefulSet", NAMES.redis);
    const claims = (sts.spec as { volumeClaimTemplates: { metadata: { name: string } }[] }).volumeClaimTemplates;
    expect(claims.map((c) => c.metadata.name)).toEqual(["data"]);
  });
});

describe("ClusterIssuer under mocks", () => {
  it("is rendered, cluster-scoped, when asked for", async () => {
    const run = await runProgram("ci", {
      ...base,
      ingress: { createClusterIssuer: true, acmeEmail: "ops@example.com" },
    });
    const issuer = findManifest(run, "ClusterIssuer", "letsencrypt-prod");
    expect(issuer.metadata.namespace).toBeUndefined();
  });
});
