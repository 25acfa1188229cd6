import { describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig } from "../config";
import { MEASURED_N8N_RSS_MIB, SIZE_PRESETS } from "../config/presets";
import { decodeConfigValue } from "../config/pulumi";
import { memoryBytes } from "../config/quantity";
import { RESERVED_CONNECTIONS, workerPoolSize } from "../config/resolve";
import { rawStackConfig } from "./harness";

const base = { domain: "n8n.example.com" };

function errorOf(raw: unknown): ConfigError {
  try {
    parseStackConfig("t", raw);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("config was accepted");
}

describe("valid config", () => {
  it("a stack file with only a domain works, with the small preset", () => {
    const c = parseStackConfig("minimal", base);
    expect(c.namespace).toBe("n8n");
    expect(c.size).toBe("small");
    expect(c.workers.minReplicas).toBe(SIZE_PRESETS.small.workers.minReplicas);
    expect(c.workers.resources).toEqual(SIZE_PRESETS.small.workers.resources);
    expect(c.postgres.patroni).toMatchObject({
      ttl: 14,
      loopWait: 4,
      retryTimeout: 5,
      failsafeMode: true,
      synchronousMode: false,
    });
    expect(c.postgres.archive.timeoutSeconds).toBe(60);
  });

  it("explicit keys override the preset one by one", () => {
    const c = parseStackConfig("t", {
      ...base,
      size: "large",
      workers: { maxReplicas: 20, resources: { limits: { memory: "3Gi" } } },
    });
    expect(c.workers.maxReplicas).toBe(20);
    expect(c.workers.minReplicas).toBe(SIZE_PRESETS.large.workers.minReplicas);
    expect(c.workers.resources.limits).toEqual({ cpu: SIZE_PRESETS.large.workers.resources.limits.cpu, memory: "3Gi" });
  });

  it("derives max_connections from the n8n connection budget", () => {
    const c = parseStackConfig("t", { ...base, size: "large" });
    const p = SIZE_PRESETS.large;
    const budget =
      p.main.dbPoolSize +
      p.workers.maxReplicas * workerPoolSize(p.workers.concurrency) +
      p.webhooks.maxReplicas * p.webhooks.dbPoolSize;
    expect(c.n8nConnections).toBe(budget);
    expect(c.postgres.maxConnections).toBeGreaterThanOrEqual(budget + RESERVED_CONNECTIONS);
  });

  it("derives a worker's pool from its concurrency", () => {
    expect(parseStackConfig("t", { ...base, workers: { concurrency: 10 } }).workers.dbPoolSize).toBe(5);
    expect(parseStackConfig("t", { ...base, workers: { concurrency: 1 } }).workers.dbPoolSize).toBe(2);
    expect(parseStackConfig("t", { ...base, workers: { concurrency: 10, dbPoolSize: 8 } }).workers.dbPoolSize).toBe(8);
  });

  it("derives Redis maxmemory below its memory limit", () => {
    const c = parseStackConfig("t", { ...base, redis: { resources: { limits: { memory: "1Gi" } } } });
    expect(c.redis.maxmemory).toBe("819.2Mi");
  });

  it("staging is small and prod is HA", () => {
    const staging = parseStackConfig("staging", rawStackConfig("staging"));
    expect(staging.main.replicas).toBe(1);
    expect([staging.workers.minReplicas, staging.workers.maxReplicas]).toEqual([1, 3]);
    expect(staging.postgres.instances).toBeLessThanOrEqual(2);

    const prod = parseStackConfig("prod", rawStackConfig("prod"));
    expect(prod.production).toBe(true);
    expect(prod.workers.minReplicas).toBeGreaterThanOrEqual(2);
    expect(prod.workers.maxReplicas).toBeGreaterThanOrEqual(10);
    expect(prod.webhooks.enabled).toBe(true);
    expect(prod.webhooks.minReplicas).toBeGreaterThanOrEqual(2);
    expect(prod.postgres.instances).toBe(3);
    expect(prod.postgres.patroni.synchronousMode).toBe(true);
  });

  it("decodes structured values as JSON and string keys as text", () => {
    expect(decodeConfigValue("workers", '{"minReplicas":2}')).toEqual({ minReplicas: 2 });
    expect(decodeConfigValue("production", "true")).toBe(true);
    // A string key keeps its text even when it would parse as JSON.
    expect(decodeConfigValue("namespace", "123")).toBe("123");
    expect(decodeConfigValue("domain", "n8n.example.com")).toBe("n8n.example.com");
  });
});

/** Each entry: a stack file mistake and the key path its message must name. */
const INVALID: [string, Record<string, unknown>, string][] = [
  ["missing domain", {}, "domain"],
  [
    "execution timeout above the maximum a leaving worker drains",
    { ...base, n8n: { executions: { timeoutSeconds: 7200, maxTimeoutSeconds: 3600 } } },
    "n8n.executions.timeoutSeconds",
  ],
  [
    "Redis threshold below n8n's own",
    { ...base, n8n: { redisTimeoutThresholdSeconds: 5 } },
    "n8n.redisTimeoutThresholdSeconds",
  ],
  ["domain not a hostname", { domain: "not a host" }, "domain"],
  ["namespace with capitals", { ...base, namespace: "N8N" }, "namespace"],
  ["unknown top-level key", { ...base, replicas: 3 }, "replicas"],
  ["unknown nested key", { ...base, workers: { maxReplica: 3 } }, "workers.maxReplica"],
  ["unknown size", { ...base, size: "huge" }, "size"],
  ["production not boolean", { ...base, production: "yes" }, "production"],
  ["n8n 1.x", { ...base, n8n: { version: "1.90.0" } }, "n8n.version"],
  ["n8n version range", { ...base, n8n: { version: "^2.40" } }, "n8n.version"],
  ["log level", { ...base, n8n: { logLevel: "verbose" } }, "n8n.logLevel"],
  ["two mains without multi-main", { ...base, main: { replicas: 2 } }, "main.replicas"],
  ["workers max < min", { ...base, workers: { minReplicas: 3, maxReplicas: 2 } }, "workers.maxReplicas"],
  ["webhooks max < min", { ...base, webhooks: { minReplicas: 4, maxReplicas: 2 } }, "webhooks.maxReplicas"],
  ["replicas not integer", { ...base, workers: { minReplicas: 1.5 } }, "workers.minReplicas"],
  ["replicas as text", { ...base, workers: { maxReplicas: "ten" } }, "workers.maxReplicas"],
  [
    "HPA target out of range",
    { ...base, workers: { targetCPUUtilizationPercentage: 150 } },
    "workers.targetCPUUtilizationPercentage",
  ],
  ["bad CPU quantity", { ...base, main: { resources: { limits: { cpu: "lots" } } } }, "main.resources.limits.cpu"],
  [
    "bad memory quantity",
    { ...base, workers: { resources: { requests: { memory: "1gb" } } } },
    "workers.resources.requests.memory",
  ],
  [
    "requests above limits",
    { ...base, workers: { resources: { requests: { cpu: "4" }, limits: { cpu: "1" } } } },
    "workers.resources.requests.cpu",
  ],
  ["queue scaling mode", { ...base, workers: { queueScaling: "redis" } }, "workers.queueScaling"],
  [
    "patroni timing rule",
    { ...base, postgres: { patroni: { ttl: 20, loopWait: 10, retryTimeout: 10 } } },
    "postgres.patroni.ttl",
  ],
  [
    "sync mode on one instance",
    { ...base, postgres: { instances: 1, patroni: { synchronousMode: true } } },
    "postgres.patroni.synchronousMode",
  ],
  ["too many postgres instances", { ...base, postgres: { instances: 12 } }, "postgres.instances"],
  ["max_connections below the pool budget", { ...base, postgres: { maxConnections: 20 } }, "postgres.maxConnections"],
  ["worker pool far above concurrency", { ...base, workers: { concurrency: 2, dbPoolSize: 20 } }, "workers.dbPoolSize"],
  ["bad archive region", { ...base, postgres: { archive: { region: "Europe" } } }, "postgres.archive.region"],
  ["bad bucket name", { ...base, postgres: { archive: { bucketName: "My_Bucket" } } }, "postgres.archive.bucketName"],
  [
    "irsa without provider ARN",
    { ...base, postgres: { archive: { credentials: "irsa", oidcIssuer: "oidc.example.com/id/X" } } },
    "postgres.archive.oidcProviderArn",
  ],
  [
    "archive timeout too short",
    { ...base, postgres: { archive: { timeoutSeconds: 1 } } },
    "postgres.archive.timeoutSeconds",
  ],
  ["bad backup cron", { ...base, postgres: { backup: { schedule: "nightly" } } }, "postgres.backup.schedule"],
  ["bad parameter name", { ...base, postgres: { parameters: { "Work-Mem": "4MB" } } }, "postgres.parameters.Work-Mem"],
  [
    "redis maxmemory above limit",
    { ...base, redis: { maxmemory: "2Gi", resources: { limits: { memory: "1Gi" } } } },
    "redis.maxmemory",
  ],
  ["cluster issuer without e-mail", { ...base, edge: { createClusterIssuer: true } }, "edge.acmeEmail"],
  ["bad e-mail", { ...base, edge: { acmeEmail: "nobody" } }, "edge.acmeEmail"],
  ["bad allowlist CIDR", { ...base, edge: { allowlistCidrs: ["10.0.0.0/33"] } }, "edge.allowlistCidrs[0]"],
  ["egress port out of range", { ...base, network: { egress: { ports: [443, 70000] } } }, "network.egress.ports[1]"],
  ["empty API server CIDRs", { ...base, network: { apiServer: { cidrs: [] } } }, "network.apiServer.cidrs"],
  ["monitoring switch not boolean", { ...base, monitoring: { dashboard: "on" } }, "monitoring.dashboard"],
  ["unknown kubernetes key", { ...base, kubernetes: { kubeContext: "x" } }, "kubernetes.kubeContext"],
  [
    "production with one worker",
    { ...base, production: true, postgres: { instances: 3 }, workers: { minReplicas: 1 } },
    "workers.minReplicas",
  ],
  [
    "extraEnv name n8n does not read",
    { ...base, workers: { extraEnv: [{ name: "N8N_NO_SUCH_SETTING", value: "1" }] } },
    "workers.extraEnv[0].name",
  ],
  [
    "extraEnv that shadows the program",
    { ...base, main: { extraEnv: [{ name: "N8N_LOG_LEVEL", value: "debug" }] } },
    "main.extraEnv[0].name",
  ],
  [
    "encryption key through extraEnv",
    { ...base, webhooks: { allowUnknownEnv: true, extraEnv: [{ name: "N8N_ENCRYPTION_KEY", value: "x" }] } },
    "webhooks.extraEnv[0].name",
  ],
  [
    "extraEnv with two sources",
    { ...base, main: { extraEnv: [{ name: "N8N_SMTP_PASS", value: "x", secretKeyRef: { name: "s", key: "k" } }] } },
    "main.extraEnv[0]",
  ],
  [
    "runner extraEnv the task runner does not read",
    { ...base, runners: { extraEnv: [{ name: "NODE_FUNCTION_ALLOW_EVERYTHING", value: "*" }] } },
    "runners.extraEnv[0].name",
  ],
  [
    "mount of an undeclared volume",
    { ...base, main: { extraVolumeMounts: [{ name: "certs", mountPath: "/certs" }] } },
    "main.extraVolumeMounts[0].name",
  ],
  [
    "extra volume that reuses a program volume",
    { ...base, workers: { extraVolumes: [{ name: "tmp", emptyDir: {} }] } },
    "workers.extraVolumes[0].name",
  ],
  ["extra volume without a source", { ...base, workers: { extraVolumes: [{ name: "x" }] } }, "workers.extraVolumes[0]"],
  ["multi-main without a licence", { ...base, n8n: { multiMain: true }, main: { replicas: 2 } }, "n8n.license"],
  [
    "SMTP user without a password",
    { ...base, n8n: { smtp: { host: "smtp.example.com", user: "n8n" } } },
    "n8n.smtp.password",
  ],
  ["SMTP sender without a host", { ...base, n8n: { smtp: { sender: "n8n <n8n@example.com>" } } }, "n8n.smtp.host"],
  [
    "existing Secret and ExternalSecret for one value",
    {
      ...base,
      secrets: {
        existing: { redisPassword: { name: "r", key: "k" } },
        externalSecret: { storeName: "vault", remoteRefs: { redisPassword: { key: "redis" } } },
      },
    },
    "secrets.existing.redisPassword",
  ],
  [
    "ExternalSecret without a store",
    { ...base, secrets: { externalSecret: { remoteRefs: { license: { key: "l" } } } } },
    "secrets.externalSecret.storeName",
  ],
  [
    "existing Secret with a bad name",
    { ...base, secrets: { existing: { encryptionKey: { name: "Team_N8N", key: "k" } } } },
    "secrets.existing.encryptionKey.name",
  ],
  [
    "OIDC without the client secret's Secret",
    {
      ...base,
      n8n: {
        sso: {
          oidc: { discoveryEndpoint: "https://login.example.com/.well-known/openid-configuration", clientId: "n8n" },
        },
      },
    },
    "n8n.sso.oidc.clientSecret",
  ],
  ["external PostgreSQL without its section", { ...base, postgres: { mode: "external" } }, "postgres.external"],
  [
    "external PostgreSQL with a generated password",
    { ...base, postgres: { mode: "external", external: { host: "db.example.com", cidrs: ["10.0.0.0/8"] } } },
    "secrets.existing.postgresPassword",
  ],
  [
    "external Redis CA without TLS",
    {
      ...base,
      redis: {
        mode: "external",
        external: { host: "r.example.com", tls: false, ca: { secret: "ca" }, cidrs: ["10.0.0.0/8"] },
      },
      secrets: { existing: { redisPassword: { name: "r", key: "k" } } },
    },
    "redis.external.ca",
  ],
  [
    "external server without CIDRs",
    { ...base, postgres: { mode: "external", external: { host: "db.example.com", cidrs: [] } } },
    "postgres.external.cidrs",
  ],
  ["binary data in S3 without a licence", { ...base, n8n: { binaryData: { mode: "s3" } } }, "n8n.binaryData.mode"],
  [
    "object storage kept for less than n8n lists executions",
    {
      ...base,
      n8n: { license: { name: "l", key: "k" }, binaryData: { mode: "s3" }, objectStorage: { expireDays: 2 } },
    },
    "n8n.objectStorage.expireDays",
  ],
  [
    "s3-compatible storage without its host",
    {
      ...base,
      n8n: {
        license: { name: "l", key: "k" },
        executionData: { mode: "s3" },
        objectStorage: { provider: "s3-compatible", bucketName: "n8n-data" },
      },
    },
    "n8n.objectStorage.host",
  ],
  [
    "production with one postgres",
    { ...base, production: true, size: "medium", postgres: { instances: 1 } },
    "postgres.instances",
  ],
];

describe("invalid config", () => {
  it("the corpus has at least 25 cases", () => {
    expect(INVALID.length).toBeGreaterThanOrEqual(25);
  });

  it.each(INVALID)("%s: names %s", (_label, raw, path) => {
    const err = errorOf(raw);
    const line = err.message.split("\n").find((l) => l.includes(` ${path} (`));
    expect(line, err.message).toBeDefined();
    // One readable line: stack, key path, value in parentheses, what is allowed. No stack trace.
    expect(line).toMatch(new RegExp(`^stack "t": ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(.+\\) \\S.+`));
    expect(err.message).not.toMatch(/\n\s+at /);
    expect(err.message).not.toContain("ZodError");
  });

  it("names the value and the limit in a cross-field message", () => {
    expect(errorOf({ ...base, workers: { minReplicas: 3, maxReplicas: 2 } }).message).toBe(
      'stack "t": workers.maxReplicas (2) must be >= workers.minReplicas (3)',
    );
  });

  it("lists the allowed keys for a typo", () => {
    expect(errorOf({ ...base, workers: { maxReplica: 3 } }).message).toMatch(/allowed here: .*maxReplicas/);
  });

  it("reports every mistake at once, one per line", () => {
    const err = errorOf({ domain: "x", size: "huge", namespace: "A" });
    expect(err.problems.map((p) => p.path).sort()).toEqual(["domain", "namespace", "size"]);
    expect(err.message.split("\n")).toHaveLength(3);
  });
});

describe("presets against measured n8n memory (bench/RESULTS.md)", () => {
  const mib = (q: string) => memoryBytes(q) / 2 ** 20;
  const hpaTarget = parseStackConfig("t", base).workers.targetMemoryUtilizationPercentage / 100;
  it.each(Object.keys(SIZE_PRESETS) as (keyof typeof SIZE_PRESETS)[])(
    "%s: an idle pod stays under the HPA's memory target, and the peak under the limit",
    (size) => {
      const preset = SIZE_PRESETS[size];
      for (const role of ["main", "workers", "webhooks"] as const) {
        const { requests, limits } = preset[role].resources;
        const measured = MEASURED_N8N_RSS_MIB[role === "workers" ? "worker" : role];
        expect(mib(requests.memory) * hpaTarget, `${size} ${role} request`).toBeGreaterThanOrEqual(measured.idle);
        expect(mib(limits.memory), `${size} ${role} limit`).toBeGreaterThan(measured.peak);
      }
    },
  );
});

describe("escape-hatch messages", () => {
  it("name an extraEnv entry but never show its value", () => {
    const message = errorOf({
      ...base,
      main: { extraEnv: [{ name: "N8N_SMTP_PASS", value: "hunter2-literal", secretKeyRef: { name: "s", key: "k" } }] },
    }).message;
    expect(message).toContain("main.extraEnv[0]");
    expect(message).toContain("N8N_SMTP_PASS");
    expect(message).not.toContain("hunter2-literal");
    const typed = errorOf({ ...base, main: { extraEnv: [{ name: "N8N_SMTP_PASS", value: 12345678 }] } }).message;
    expect(typed).toContain("main.extraEnv[0].value");
    expect(typed).not.toContain("12345678");
  });
});
