/**
 * Cross-field rules, checked on the resolved config so that preset values count.
 * Each rule yields a problem that names the key path, its value and what is allowed. Pure.
 */

import { EXTERNAL_SECRET, type ExternalValue } from "../components/kubernetes/names";
import { edgeProblems } from "./edge";
import { escapeHatchProblems } from "./escape-hatches";
import { cpuCores, memoryBytes } from "./quantity";
import { HARD_DELETE_BUFFER_HOURS, minimumExpireDays, RESERVED_CONNECTIONS, type StackConfig } from "./resolve";

export interface Problem {
  /** Dotted key path as written in the stack file, e.g. "workers.maxReplicas". */
  path: string;
  value: unknown;
  /** What is wrong / what is allowed, completing "<path> (<value>) ...". */
  message: string;
}

type Rule = (c: StackConfig) => Problem[];

const when = (cond: boolean, p: Problem): Problem[] => (cond ? [p] : []);

const replicaRange =
  (key: "workers" | "webhooks"): Rule =>
  (c) =>
    when(c[key].maxReplicas < c[key].minReplicas, {
      path: `${key}.maxReplicas`,
      value: c[key].maxReplicas,
      message: `must be >= ${key}.minReplicas (${c[key].minReplicas})`,
    });

const WORKLOADS = ["main", "workers", "webhooks", "runners", "postgres", "redis"] as const;

/** requests <= limits for every workload, CPU and memory. */
const requestsWithinLimits: Rule = (c) =>
  WORKLOADS.flatMap((w) => {
    const r = c[w].resources;
    return [
      ...when(cpuCores(r.requests.cpu) > cpuCores(r.limits.cpu), {
        path: `${w}.resources.requests.cpu`,
        value: r.requests.cpu,
        message: `must be <= ${w}.resources.limits.cpu (${r.limits.cpu})`,
      }),
      ...when(memoryBytes(r.requests.memory) > memoryBytes(r.limits.memory), {
        path: `${w}.resources.requests.memory`,
        value: r.requests.memory,
        message: `must be <= ${w}.resources.limits.memory (${r.limits.memory})`,
      }),
    ];
  });

/** A value may come from one place only: an existing Secret, the ExternalSecret, or (license) n8n.license. */
const oneSecretSource: Rule = (c) => {
  const remote = c.secrets.externalSecret?.remoteRefs ?? {};
  const both = (Object.keys(c.secrets.sources) as ExternalValue[]).filter(
    (v) => c.secrets.sources[v] === "existing-secret" && remote[v] !== undefined,
  );
  return [
    ...both.map((v) => ({
      path: `secrets.existing.${v}`,
      value: c.secrets.refs[v],
      message: `must not be set together with secrets.externalSecret.remoteRefs.${v}: a value comes from one place`,
    })),
    ...when(remote.license !== undefined && c.n8n.license?.name !== EXTERNAL_SECRET.name, {
      path: "n8n.license",
      value: c.n8n.license,
      message: "must not be set together with secrets.externalSecret.remoteRefs.license: a value comes from one place",
    }),
  ];
};

/** postgres.mode / redis.mode external: the section, a password from outside, and what cannot follow. */
const externalServers: Rule = (c) => {
  const out: Problem[] = [];
  const parts = [
    {
      key: "postgres",
      external: c.connections.database.external,
      given: c.postgres.external,
      mode: c.postgres.mode,
      password: "postgresPassword",
    },
    {
      key: "redis",
      external: c.connections.queue.external,
      given: c.redis.external,
      mode: c.redis.mode,
      password: "redisPassword",
    },
  ] as const;
  for (const p of parts) {
    out.push(
      ...when(p.mode === "external" && !p.given, {
        path: `${p.key}.external`,
        value: undefined,
        message: `is required when ${p.key}.mode is "external" (host, port, cidrs, ...)`,
      }),
      ...when(p.mode === "in-cluster" && p.given !== undefined, {
        path: `${p.key}.external`,
        value: p.given,
        message: `is set but ${p.key}.mode is "in-cluster": set ${p.key}.mode: external to use it, or remove it`,
      }),
      ...when(p.external && c.secrets.sources[p.password] === "program", {
        path: `secrets.existing.${p.password}`,
        value: undefined,
        message: `is required when ${p.key}.mode is "external": n8n's password for your server, from a Secret ({name, key}) or secrets.externalSecret.remoteRefs.${p.password}`,
      }),
    );
  }
  const db = c.connections.database;
  const q = c.connections.queue;
  if (db.external) {
    out.push(
      ...when(c.postgres.outbox.enabled, {
        path: "postgres.outbox.enabled",
        value: true,
        message:
          'needs postgres.mode "in-cluster": the bootstrap Job that creates the outbox tables runs against the in-cluster server',
      }),
      ...when(c.postgres.restore !== undefined, {
        path: "postgres.restore",
        value: c.postgres.restore,
        message: 'needs postgres.mode "in-cluster": restore an external server with its own tools',
      }),
      ...when(db.ca !== undefined && db.sslMode !== "verify-full", {
        path: "postgres.external.ca",
        value: c.postgres.external?.ca,
        message: `is only used with sslMode "verify-full" (it is "${db.sslMode}")`,
      }),
      ...when(c.production && db.sslMode !== "verify-full", {
        path: "postgres.external.sslMode",
        value: db.sslMode,
        message:
          'must be "verify-full" when production is true: n8n checks the server certificate (give postgres.external.ca for a private CA)',
      }),
    );
    const max = c.postgres.external?.maxConnections;
    if (max !== undefined) {
      out.push(
        ...when(max < c.n8nConnections, {
          path: "postgres.external.maxConnections",
          value: max,
          message: `is below the ${c.n8nConnections} connections n8n's pools hold at maximum replicas (main ${c.main.replicas}x${c.main.dbPoolSize}, workers ${c.workers.maxReplicas}x${c.workers.dbPoolSize}${c.webhooks.enabled ? `, webhooks ${c.webhooks.maxReplicas}x${c.webhooks.dbPoolSize}` : ""}): lower the pools or the maximum replicas`,
        }),
      );
    }
  }
  if (q.external) {
    out.push(
      ...when(q.ca !== undefined && !q.tls, {
        path: "redis.external.ca",
        value: c.redis.external?.ca,
        message: "is only used with redis.external.tls true",
      }),
      ...when(c.production && !q.tls, {
        path: "redis.external.tls",
        value: false,
        message: "must be true when production is true: the queue carries execution data and the password",
      }),
      ...when(c.workers.queueScaling === "keda", {
        path: "workers.queueScaling",
        value: "keda",
        message:
          'is not supported with redis.mode "external" yet (KEDA\'s TLS settings are not rendered): use "none" or "external-metric"',
      }),
    );
  }
  return out;
};

const AWS_ONLY = ["kmsKeyArn", "credentials", "oidcProviderArn", "oidcIssuer", "expireDays"] as const;
const S3_COMPATIBLE_ONLY = ["host", "accessKey", "secretKey", "cidrs"] as const;
const S3_COMPATIBLE_REQUIRED = {
  bucketName: "the bucket n8n writes to",
  host: "host[:port] of the storage, without the scheme",
  accessKey: "{name, key} of a Secret holding the access key",
  secretKey: "{name, key} of a Secret holding the secret key",
  cidrs: "addresses of the storage, for the NetworkPolicy",
} as const;

/**
 * n8n's object storage: a licence to write (n8n 2.40.7 exits at start in an s3 mode without one), what each
 * provider needs, keys of the other provider refused, and a lifecycle that keeps what n8n still lists.
 */
const objectStorageRules: Rule = (c) => {
  const o = c.n8n.objectStorage;
  const modes = (["binaryData", "executionData"] as const).filter((k) => c.n8n[k].mode === "s3");
  if (modes.length === 0 && !o.retain) return [];
  const out: Problem[] = [];
  // Reading needs no licence: n8n registers the store whenever a bucket is configured.
  if (modes.length > 0 && !c.n8n.license) {
    out.push({
      path: `n8n.${modes[0]}.mode`,
      value: "s3",
      message:
        "needs n8n's Enterprise licence: set n8n.license or secrets.externalSecret.remoteRefs.license (n8n exits at start without it)",
    });
  }
  const provider = `n8n.objectStorage.provider is "${o.provider}"`;
  const foreign = o.provider === "aws" ? S3_COMPATIBLE_ONLY : AWS_ONLY;
  for (const key of foreign) {
    if (o[key] !== undefined) {
      out.push({
        path: `n8n.objectStorage.${key}`,
        value: o[key],
        message: `applies to the other provider (${provider})`,
      });
    }
  }
  if (o.provider === "s3-compatible") {
    for (const [key, what] of Object.entries(S3_COMPATIBLE_REQUIRED)) {
      if (o[key as keyof typeof S3_COMPATIBLE_REQUIRED] === undefined) {
        out.push({
          path: `n8n.objectStorage.${key}`,
          value: undefined,
          message: `is required when ${provider}: ${what}`,
        });
      }
    }
    if (c.production && o.protocol === "http") {
      out.push({
        path: "n8n.objectStorage.protocol",
        value: "http",
        message: 'must be "https" when production is true: binary data would cross the network in clear text',
      });
    }
    return out;
  }
  const s = c.objectStorage;
  if (s?.provider === "aws" && s.identity.kind === "irsa") {
    const missing = (["oidcProviderArn", "oidcIssuer"] as const).filter((k) => !(o[k] ?? c.postgres.archive[k]));
    for (const key of missing) {
      out.push({
        path: `n8n.objectStorage.${key}`,
        value: undefined,
        message: 'is required when the object storage credentials are "irsa" (or set it on postgres.archive)',
      });
    }
  }
  const least = minimumExpireDays(c.n8n.executions.pruneMaxAgeHours);
  if (o.expireDays !== undefined && o.expireDays < least) {
    out.push({
      path: "n8n.objectStorage.expireDays",
      value: o.expireDays,
      message: `must be >= ${least}: n8n lists executions for n8n.executions.pruneMaxAgeHours (${c.n8n.executions.pruneMaxAgeHours}) plus ${HARD_DELETE_BUFFER_HOURS} h, and S3 would delete their data first`,
    });
  }
  return out;
};

export const RULES: Rule[] = [
  replicaRange("workers"),
  replicaRange("webhooks"),
  requestsWithinLimits,
  (c) =>
    when(c.main.replicas > 1 && !c.n8n.multiMain, {
      path: "main.replicas",
      value: c.main.replicas,
      message:
        "must be 1 unless n8n.multiMain is true (multi-main needs n8n's Enterprise licence; two plain mains double-fire schedules)",
    }),
  (c) => {
    const { ttl, loopWait, retryTimeout } = c.postgres.patroni;
    return when(loopWait + 2 * retryTimeout > ttl, {
      path: "postgres.patroni.ttl",
      value: ttl,
      message: `must be >= postgres.patroni.loopWait + 2 * postgres.patroni.retryTimeout (${loopWait} + 2 * ${retryTimeout} = ${loopWait + 2 * retryTimeout}), Patroni's own rule`,
    });
  },
  (c) =>
    when(c.n8n.executions.timeoutSeconds > c.n8n.executions.maxTimeoutSeconds, {
      path: "n8n.executions.timeoutSeconds",
      value: c.n8n.executions.timeoutSeconds,
      message: `must be <= n8n.executions.maxTimeoutSeconds (${c.n8n.executions.maxTimeoutSeconds}): a leaving worker drains only that long`,
    }),
  (c) =>
    when(c.postgres.patroni.synchronousMode && c.postgres.instances < 2, {
      path: "postgres.patroni.synchronousMode",
      value: true,
      message: `needs postgres.instances >= 2 (it is ${c.postgres.instances}): a synchronous standby must exist`,
    }),
  (c) =>
    when(c.postgres.maxConnections < c.n8nConnections + RESERVED_CONNECTIONS, {
      path: "postgres.maxConnections",
      value: c.postgres.maxConnections,
      message: `must be >= ${c.n8nConnections + RESERVED_CONNECTIONS}: n8n pools at maximum replicas hold ${c.n8nConnections} connections (main ${c.main.replicas}x${c.main.dbPoolSize}, workers ${c.workers.maxReplicas}x${c.workers.dbPoolSize}${c.webhooks.enabled ? `, webhooks ${c.webhooks.maxReplicas}x${c.webhooks.dbPoolSize}` : ""}) plus ${RESERVED_CONNECTIONS} reserved`,
    }),
  (c) =>
    when(c.workers.dbPoolSize > c.workers.concurrency + 2, {
      path: "workers.dbPoolSize",
      value: c.workers.dbPoolSize,
      message: `must be <= workers.concurrency + 2 (${c.workers.concurrency + 2}): more connections than running executions only idle on PostgreSQL`,
    }),
  (c) =>
    when(memoryBytes(c.redis.maxmemory) >= memoryBytes(c.redis.resources.limits.memory), {
      path: "redis.maxmemory",
      value: c.redis.maxmemory,
      message: `must be below redis.resources.limits.memory (${c.redis.resources.limits.memory}), or Redis is OOM-killed before it refuses writes`,
    }),
  (c) =>
    when(
      c.postgres.archive.enabled && c.postgres.archive.credentials === "irsa" && !c.postgres.archive.oidcProviderArn,
      {
        path: "postgres.archive.oidcProviderArn",
        value: undefined,
        message: 'is required when postgres.archive.credentials is "irsa" (the cluster\'s IAM OIDC provider ARN)',
      },
    ),
  (c) =>
    when(c.postgres.archive.enabled && c.postgres.archive.credentials === "irsa" && !c.postgres.archive.oidcIssuer, {
      path: "postgres.archive.oidcIssuer",
      value: undefined,
      message: 'is required when postgres.archive.credentials is "irsa" (issuer host and path, without https://)',
    }),
  (c) =>
    when(c.postgres.restore !== undefined && !c.postgres.archive.enabled, {
      path: "postgres.restore",
      value: c.postgres.restore,
      message: "needs postgres.archive.enabled: the restore reads the archive with the archive's credentials",
    }),
  (c) =>
    when(c.postgres.backup.dump.enabled && !c.postgres.archive.enabled, {
      path: "postgres.backup.dump.enabled",
      value: true,
      message: "needs postgres.archive.enabled: the dump bucket and its IAM are made with the archive's",
    }),
  (c) => edgeProblems(c.edge),
  (c) =>
    when(c.production && c.workers.minReplicas < 2, {
      path: "workers.minReplicas",
      value: c.workers.minReplicas,
      message: "must be >= 2 when production is true (one worker is a single point of failure)",
    }),
  (c) =>
    when(c.n8n.multiMain && !c.n8n.license, {
      path: "n8n.license",
      value: undefined,
      message: "is required when n8n.multiMain is true: multi-main is an Enterprise feature ({name, key} of a Secret)",
    }),
  (c) =>
    when(c.n8n.smtp.user !== undefined && !c.n8n.smtp.password, {
      path: "n8n.smtp.password",
      value: undefined,
      message: "is required when n8n.smtp.user is set ({name, key} of a Secret holding the SMTP password)",
    }),
  (c) =>
    when(c.n8n.smtp.host === undefined && (c.n8n.smtp.user !== undefined || c.n8n.smtp.sender !== undefined), {
      path: "n8n.smtp.host",
      value: undefined,
      message: "is required when other n8n.smtp keys are set: without a host n8n sends no mail",
    }),
  (c) =>
    when(c.production && !c.connections.database.external && c.postgres.instances < 2, {
      path: "postgres.instances",
      value: c.postgres.instances,
      message: "must be >= 2 when production is true (automatic failover needs a replica)",
    }),
  (c) =>
    when(c.n8n.sso.oidc !== undefined && c.n8n.sso.saml !== undefined, {
      path: "n8n.sso.saml",
      value: c.n8n.sso.saml,
      message:
        "must not be set together with n8n.sso.oidc: n8n enables one SSO protocol at a time (main refuses to start with both)",
    }),
  oneSecretSource,
  externalServers,
  objectStorageRules,
];

export function checkRules(config: StackConfig): Problem[] {
  return [...RULES.flatMap((rule) => rule(config)), ...escapeHatchProblems(config)];
}
