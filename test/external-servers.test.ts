/**
 * postgres.mode / redis.mode "external" (issue 15, item 2): n8n connects to servers the team runs.
 * The in-cluster parts are not rendered; flows, monitoring and the connection budget follow; the
 * TLS settings are n8n's own names. test/real/external-tls.test.ts proves the TLS against real
 * PostgreSQL and Redis servers.
 */
import { describe, expect, it } from "vitest";
import { alertGroups, dashboardPanels, monitoringProps, scrapeTargets } from "../components/monitoring";
import { caFile, n8nEnv } from "../components/n8n/env";
import { n8nProps } from "../components/n8n/props";
import { networkFlows, networkProps } from "../components/network";
import { parseStackConfig } from "../config";
import { readsEnv } from "../config/env-names";
import { configErrorText, podsOf, runProgram } from "./harness";
import { evaluatePack } from "./policy-harness";

const EXTERNAL = {
  domain: "n8n.example.com",
  webhooks: { enabled: true },
  postgres: {
    mode: "external",
    external: {
      host: "n8n.abc123.eu-west-1.rds.amazonaws.com",
      ca: { configMap: "rds-ca", key: "global-bundle.pem" },
      cidrs: ["10.20.0.0/16"],
      maxConnections: 400,
    },
  },
  redis: {
    mode: "external",
    external: {
      host: "master.n8n.abc123.euw1.cache.amazonaws.com",
      username: "n8n",
      ca: { secret: "elasticache-ca" },
      cidrs: ["10.20.0.0/16", "10.21.0.0/16"],
    },
  },
  secrets: {
    existing: {
      postgresPassword: { name: "rds-n8n", key: "password" },
      redisPassword: { name: "elasticache-n8n", key: "auth-token" },
    },
  },
};

const envOf = (raw: Record<string, unknown>, role: "main" | "worker" | "webhook" = "worker") => {
  const c = parseStackConfig("ext", raw);
  return Object.fromEntries(
    n8nEnv(n8nProps(c, "n8n"), role).map((e) => [e.name, "value" in e ? e.value : e.valueFrom]),
  );
};

describe("n8n's env with external servers", () => {
  it("verify-full with a CA: TLS on, the certificate checked, the bundle read from a file", () => {
    const env = envOf(EXTERNAL);
    expect(env).toMatchObject({
      DB_POSTGRESDB_HOST: "n8n.abc123.eu-west-1.rds.amazonaws.com",
      DB_POSTGRESDB_PORT: "5432",
      DB_POSTGRESDB_DATABASE: "n8n",
      DB_POSTGRESDB_USER: "n8n",
      DB_POSTGRESDB_PASSWORD: { secretKeyRef: { name: "rds-n8n", key: "password" } },
      DB_POSTGRESDB_SSL_ENABLED: "true",
      DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED: "true",
      DB_POSTGRESDB_SSL_CA_FILE: caFile("database"),
      QUEUE_BULL_REDIS_HOST: "master.n8n.abc123.euw1.cache.amazonaws.com",
      QUEUE_BULL_REDIS_USERNAME: "n8n",
      QUEUE_BULL_REDIS_PASSWORD: { secretKeyRef: { name: "elasticache-n8n", key: "auth-token" } },
      QUEUE_BULL_REDIS_TLS: "true",
      QUEUE_BULL_REDIS_TLS_VALIDATE_CERTIFICATE: "true",
      NODE_EXTRA_CA_CERTS: caFile("queue"),
    });
    // Every name is one n8n (or Node, or n8n's <NAME>_FILE) reads.
    for (const name of Object.keys(env)) expect(readsEnv("n8n", name), name).toBe(true);
  });

  it("require encrypts without checking; disable sends nothing; cluster nodes are listed", () => {
    const require = envOf({
      ...EXTERNAL,
      postgres: { mode: "external", external: { ...EXTERNAL.postgres.external, ca: undefined, sslMode: "require" } },
      redis: {
        mode: "external",
        external: {
          host: "r.example.com",
          tls: false,
          clusterNodes: ["a.example.com:6379", "b.example.com:6380"],
          cidrs: ["10.0.0.0/8"],
        },
      },
    });
    expect(require.DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED).toBe("false");
    expect(require.DB_POSTGRESDB_SSL_CA_FILE).toBeUndefined();
    expect(require.QUEUE_BULL_REDIS_TLS).toBeUndefined();
    expect(require.NODE_EXTRA_CA_CERTS).toBeUndefined();
    expect(require.QUEUE_BULL_REDIS_CLUSTER_NODES).toBe("a.example.com:6379,b.example.com:6380");
    const plain = envOf({
      ...EXTERNAL,
      postgres: { mode: "external", external: { ...EXTERNAL.postgres.external, ca: undefined, sslMode: "disable" } },
    });
    expect(Object.keys(plain).filter((k) => k.startsWith("DB_POSTGRESDB_SSL"))).toEqual([]);
  });
});

describe("a stack with external servers", () => {
  it("renders no in-cluster PostgreSQL or Redis, their credentials, buckets or Jobs", async () => {
    const run = await runProgram("external", EXTERNAL);
    const kinds = run.manifests.map((m) => `${m.kind}/${m.metadata.name}`);
    expect(kinds.filter((k) => /^(StatefulSet|Job|CronJob)\//.test(k))).toEqual([]);
    expect(kinds.filter((k) => k.startsWith("Secret/"))).toEqual(["Secret/n8n-core"]);
    expect(run.resources.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
    expect(run.resources.map((r) => r.name).filter((n) => /postgres|redis/.test(n) && !n.includes("network"))).toEqual(
      [],
    );
    // The CA bundles are mounted read-only into every n8n container, projected to ca.crt.
    for (const pod of podsOf(run.manifests)) {
      const n8n = pod.spec.containers.find((c) => c.name === "n8n");
      expect(n8n?.volumeMounts?.map((m) => m.name)).toEqual(expect.arrayContaining(["postgres-ca", "redis-ca"]));
      expect(pod.spec.volumes).toEqual(
        expect.arrayContaining([
          { name: "postgres-ca", configMap: { name: "rds-ca", items: [{ key: "global-bundle.pem", path: "ca.crt" }] } },
          { name: "redis-ca", secret: { secretName: "elasticache-ca", items: [{ key: "ca.crt", path: "ca.crt" }] } },
        ]),
      );
    }
    expect((await evaluatePack(run.resources)).filter((v) => v.level === "mandatory")).toEqual([]);
  });

  it("n8n may reach the servers' CIDRs on their ports; the in-cluster flows and monitoring go", () => {
    const c = parseStackConfig("ext", EXTERNAL);
    const flows = networkFlows(networkProps(c, "n8n"));
    const byName = Object.fromEntries(flows.map((f) => [f.name, f]));
    expect(byName["n8n-to-postgres"]?.to).toEqual({ kind: "cidrs", cidrs: ["10.20.0.0/16"], except: [] });
    expect(byName["n8n-to-postgres"]?.ports).toEqual([{ port: 5432, protocol: "TCP" }]);
    expect(byName["n8n-to-redis"]?.to).toEqual({ kind: "cidrs", cidrs: ["10.20.0.0/16", "10.21.0.0/16"], except: [] });
    for (const gone of [
      "postgres-peers",
      "backups-to-s3",
      "jobs-to-postgres",
      "prometheus-to-postgres",
      "prometheus-to-redis",
    ])
      expect(byName[gone], gone).toBeUndefined();
    const m = monitoringProps(c, "n8n");
    expect(scrapeTargets(m).map((t) => t.name)).toEqual(["n8n-main", "n8n-worker", "n8n-webhook"]);
    expect(alertGroups(m).map((g) => g.name)).toEqual(["n8n", "n8n-kubernetes"]);
    const exprs = dashboardPanels(m).flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.some((e) => /pg_|patroni_|redis_/.test(e))).toBe(false);
    expect(exprs.length).toBeGreaterThan(5);
  });

  it("cluster nodes on other ports open those ports too", () => {
    const c = parseStackConfig("ext", {
      ...EXTERNAL,
      redis: {
        mode: "external",
        external: {
          host: "a.example.com",
          clusterNodes: ["a.example.com:7000", "b.example.com:7001"],
          cidrs: ["10.0.0.0/8"],
        },
      },
    });
    const flow = networkFlows(networkProps(c, "n8n")).find((f) => f.name === "n8n-to-redis");
    expect(flow?.ports.map((p) => p.port)).toEqual([6379, 7000, 7001]);
  });
});

describe("config errors of external servers", () => {
  const message = (raw: Record<string, unknown>) => configErrorText(raw);

  it("the password must come from outside, and the section must match the mode", () => {
    const msg = message({ ...EXTERNAL, secrets: {} });
    expect(msg).toContain('secrets.existing.postgresPassword (not set) is required when postgres.mode is "external"');
    expect(msg).toContain('secrets.existing.redisPassword (not set) is required when redis.mode is "external"');
    expect(message({ domain: "n8n.example.com", postgres: { mode: "external" } })).toContain(
      'postgres.external (not set) is required when postgres.mode is "external"',
    );
    expect(message({ domain: "n8n.example.com", redis: { external: EXTERNAL.redis.external } })).toContain(
      'redis.external ({"host"',
    );
  });

  it("production needs verified TLS; the budget, outbox and KEDA are checked", () => {
    const prod = message({
      ...EXTERNAL,
      production: true,
      workers: { minReplicas: 2, maxReplicas: 150, dbPoolSize: 3, queueScaling: "keda" },
      postgres: {
        mode: "external",
        outbox: { enabled: true },
        external: { ...EXTERNAL.postgres.external, ca: undefined, sslMode: "require" },
      },
      redis: { mode: "external", external: { ...EXTERNAL.redis.external, ca: undefined, tls: false } },
    });
    expect(prod).toContain('postgres.external.sslMode ("require") must be "verify-full" when production is true');
    expect(prod).toContain("redis.external.tls (false) must be true when production is true");
    expect(prod).toContain("postgres.external.maxConnections (400) is below the");
    expect(prod).toContain('postgres.outbox.enabled (true) needs postgres.mode "in-cluster"');
    expect(prod).toContain('workers.queueScaling ("keda") is not supported with redis.mode "external" yet');
  });
});
