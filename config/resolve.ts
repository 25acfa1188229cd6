/**
 * Turns the parsed stack config into the fully specified one the components take: size-preset values
 * fill whatever the stack file left out, and derived numbers (Postgres max_connections, Redis
 * maxmemory) are computed once here. Pure.
 */

import type { AwsIdentity } from "../components/aws/s3";
import {
  APP_DATABASE,
  DB_USERS,
  EXTERNAL_SECRET,
  EXTERNAL_VALUES,
  type ExternalValue,
  NAMES,
  PORTS,
  programRef,
  type SecretRef,
  type SecretRefs,
} from "../components/kubernetes/names";
import { resolveEdge } from "./edge";
import { type Resources, SIZE_PRESETS } from "./presets";
import { formatMemory, memoryBytes } from "./quantity";
import type { ParsedConfig } from "./schema";

type ParsedResources = ParsedConfig["main"]["resources"];

function mergeResources(preset: Resources, given: ParsedResources): Resources {
  return {
    requests: {
      cpu: given.requests.cpu ?? preset.requests.cpu,
      memory: given.requests.memory ?? preset.requests.memory,
    },
    limits: {
      cpu: given.limits.cpu ?? preset.limits.cpu,
      memory: given.limits.memory ?? preset.limits.memory,
    },
  };
}

/**
 * Connections PostgreSQL keeps beyond n8n's pools: superuser_reserved_connections (3), Patroni and
 * replication (one per replica plus Patroni's own), the exporter, backups and an operator's psql.
 */
export const RESERVED_CONNECTIONS = 15;

/**
 * How the backup writers authenticate to AWS, as a discriminated union: with "irsa" the OIDC
 * provider and issuer are there by type. Built from the flat stack-file keys (postgres.archive.
 * credentials, oidcProviderArn, oidcIssuer); the rules refuse "irsa" without them before any
 * component sees the config, so the empty strings below never reach one.
 */
export type ArchiveIdentity = AwsIdentity;

function archiveIdentity(
  a: Pick<ParsedConfig["postgres"]["archive"], "credentials" | "oidcProviderArn" | "oidcIssuer">,
): ArchiveIdentity {
  return a.credentials === "irsa"
    ? { kind: "irsa", oidcProviderArn: a.oidcProviderArn ?? "", oidcIssuer: a.oidcIssuer ?? "" }
    : { kind: "static" };
}

/** Where a value the program could generate comes from. */
export type SecretSource = "program" | "existing-secret" | "external-secret";

/** The key of a value in the Secret the External Secrets Operator writes: the value's name in kebab case. */
export const externalSecretKey = (value: string): string => value.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * Where each value n8n reads is kept: an existing Secret (secrets.existing), the Secret of the
 * ExternalSecret (secrets.externalSecret.remoteRefs), or the program's own Secret. The rules refuse a
 * value named in both.
 */
function secretSources(parsed: ParsedConfig) {
  const remote = parsed.secrets.externalSecret?.remoteRefs ?? {};
  const entries = (Object.keys(EXTERNAL_VALUES) as ExternalValue[]).map((value) => {
    const existing = parsed.secrets.existing[value];
    const source: SecretSource = existing ? "existing-secret" : remote[value] ? "external-secret" : "program";
    const ref: SecretRef = existing
      ? { ...existing }
      : source === "external-secret"
        ? { name: EXTERNAL_SECRET.name, key: externalSecretKey(value) }
        : programRef(value);
    return [value, { source, ref }] as const;
  });
  const license: SecretRef | undefined =
    parsed.n8n.license ??
    (remote.license ? { name: EXTERNAL_SECRET.name, key: externalSecretKey("license") } : undefined);
  return {
    refs: Object.fromEntries(entries.map(([v, e]) => [v, e.ref])) as SecretRefs,
    sources: Object.fromEntries(entries.map(([v, e]) => [v, e.source])) as Record<ExternalValue, SecretSource>,
    license,
    externalSecret: parsed.secrets.externalSecret,
  };
}

/** A CA bundle the n8n pods mount: a key of a Secret or a ConfigMap. */
export interface CaBundle {
  kind: "secret" | "configMap";
  name: string;
  key: string;
}

function caBundle(ca: { secret?: string; configMap?: string; key: string } | undefined): CaBundle | undefined {
  if (!ca) return undefined;
  return ca.secret
    ? { kind: "secret", name: ca.secret, key: ca.key }
    : { kind: "configMap", name: ca.configMap ?? "", key: ca.key };
}

/** Where n8n finds PostgreSQL, and how it checks the server: the in-cluster Spilo, or the external one. */
export interface DatabaseConnection {
  external: boolean;
  host: string;
  port: number;
  database: string;
  user: string;
  sslMode: "verify-full" | "require" | "disable";
  ca?: CaBundle;
  /** External: the addresses the n8n pods may reach it at. */
  cidrs: string[];
}

/** Where n8n finds Redis: the in-cluster one, or the external one. */
export interface QueueConnection {
  external: boolean;
  host: string;
  port: number;
  username?: string;
  tls: boolean;
  ca?: CaBundle;
  clusterNodes: string[];
  cidrs: string[];
}

function databaseConnection(p: ParsedConfig["postgres"]): DatabaseConnection {
  const e = p.external;
  if (p.mode === "external" && e) {
    return { external: true, ...e, ca: caBundle(e.ca) };
  }
  // cert-manager signs the server certificate with the namespace CA, whose certificate is in the
  // server certificate's Secret (ca.crt): the clients verify. Spilo's own is self-signed: encrypted only.
  const verified = p.tls && p.serverCertificate === "cert-manager";
  return {
    external: false,
    host: NAMES.postgres,
    port: PORTS.postgres,
    database: APP_DATABASE,
    user: DB_USERS.app,
    sslMode: !p.tls ? "disable" : verified ? "verify-full" : "require",
    ...(verified ? { ca: { kind: "secret" as const, name: NAMES.postgresTls, key: "ca.crt" } } : {}),
    cidrs: [],
  };
}

function queueConnection(r: ParsedConfig["redis"]): QueueConnection {
  const e = r.external;
  if (r.mode === "external" && e) return { external: true, ...e, ca: caBundle(e.ca) };
  return { external: false, host: NAMES.redis, port: PORTS.redis, tls: false, clusterNodes: [], cidrs: [] };
}

/** Hours n8n keeps a pruned execution before deleting it for good (EXECUTIONS_DATA_HARD_DELETE_BUFFER, n8n's default). */
export const HARD_DELETE_BUFFER_HOURS = 1;

/**
 * The fewest days the object storage may keep an object: n8n shows an execution until pruning has
 * deleted it (pruneMaxAgeHours plus the hard-delete buffer), and then a day of margin for the
 * pruning schedule. Less, and S3 would delete the binary data of executions n8n still lists.
 */
export function minimumExpireDays(pruneMaxAgeHours: number): number {
  return Math.ceil((pruneMaxAgeHours + HARD_DELETE_BUFFER_HOURS) / 24) + 1;
}

/**
 * n8n's object storage (n8n.binaryData or n8n.executionData in s3 mode, or kept with
 * n8n.objectStorage.retain): a bucket made here, or one you run.
 */
export type ObjectStorage =
  | {
      provider: "aws";
      bucketName?: string;
      region: string;
      kmsKeyArn?: string;
      identity: AwsIdentity;
      expireDays: number;
      noncurrentDays: number;
    }
  | {
      provider: "s3-compatible";
      bucketName: string;
      region: string;
      host: string;
      protocol: "https" | "http";
      forcePathStyle: boolean;
      accessKey: SecretRef;
      secretKey: SecretRef;
      cidrs: string[];
    };

/**
 * The resolved object storage, when a mode uses it or the stack retains it. AWS settings left out come from
 * postgres.archive (region, credentials, OIDC). The rules refuse what is missing (an
 * s3-compatible host, keys or CIDRs, irsa without OIDC) before any component sees the config, so
 * the empty values below never reach one.
 */
function objectStorage(parsed: ParsedConfig): ObjectStorage | undefined {
  const n = parsed.n8n;
  const o = n.objectStorage;
  if (n.binaryData.mode !== "s3" && n.executionData.mode !== "s3" && !o.retain) return undefined;
  if (o.provider === "s3-compatible") {
    const none = { name: "", key: "" };
    return {
      provider: "s3-compatible",
      bucketName: o.bucketName ?? "",
      region: o.region ?? "auto",
      host: o.host ?? "",
      protocol: o.protocol,
      forcePathStyle: o.forcePathStyle,
      accessKey: o.accessKey ?? none,
      secretKey: o.secretKey ?? none,
      cidrs: o.cidrs ?? [],
    };
  }
  const a = parsed.postgres.archive;
  return {
    provider: "aws",
    bucketName: o.bucketName,
    region: o.region ?? a.region,
    kmsKeyArn: o.kmsKeyArn,
    identity: archiveIdentity({
      credentials: o.credentials ?? a.credentials,
      oidcProviderArn: o.oidcProviderArn ?? a.oidcProviderArn,
      oidcIssuer: o.oidcIssuer ?? a.oidcIssuer,
    }),
    expireDays: o.expireDays ?? minimumExpireDays(n.executions.pruneMaxAgeHours),
    noncurrentDays: o.noncurrentDays,
  };
}

export interface HpaSettings {
  minReplicas: number;
  maxReplicas: number;
  targetCPUUtilizationPercentage: number;
  targetMemoryUtilizationPercentage: number;
  scaleDownStabilizationSeconds: number;
}

/**
 * A worker's pool: an execution holds a connection only while it reads or saves, so half the
 * concurrency covers it; never below n8n's default of 2.
 */
export function workerPoolSize(concurrency: number): number {
  return Math.max(2, Math.ceil(concurrency / 2));
}

export function resolveConfig(stack: string, parsed: ParsedConfig) {
  const preset = SIZE_PRESETS[parsed.size];
  const hpa = (
    given: ParsedConfig["workers"] | ParsedConfig["webhooks"],
    p: { minReplicas: number; maxReplicas: number },
  ): HpaSettings => ({
    minReplicas: given.minReplicas ?? p.minReplicas,
    maxReplicas: given.maxReplicas ?? p.maxReplicas,
    targetCPUUtilizationPercentage: given.targetCPUUtilizationPercentage,
    targetMemoryUtilizationPercentage: given.targetMemoryUtilizationPercentage,
    scaleDownStabilizationSeconds: given.scaleDownStabilizationSeconds,
  });

  const main = {
    ...parsed.main,
    dbPoolSize: parsed.main.dbPoolSize ?? preset.main.dbPoolSize,
    resources: mergeResources(preset.main.resources, parsed.main.resources),
  };
  const concurrency = parsed.workers.concurrency ?? preset.workers.concurrency;
  const workers = {
    ...parsed.workers,
    ...hpa(parsed.workers, preset.workers),
    concurrency,
    dbPoolSize: parsed.workers.dbPoolSize ?? workerPoolSize(concurrency),
    resources: mergeResources(preset.workers.resources, parsed.workers.resources),
  };
  const webhooks = {
    ...parsed.webhooks,
    enabled: parsed.webhooks.enabled ?? preset.webhooks.enabled,
    ...hpa(parsed.webhooks, preset.webhooks),
    dbPoolSize: parsed.webhooks.dbPoolSize ?? preset.webhooks.dbPoolSize,
    resources: mergeResources(preset.webhooks.resources, parsed.webhooks.resources),
  };
  const runners = {
    ...parsed.runners,
    resources: mergeResources(preset.runners.resources, parsed.runners.resources),
  };

  // Every n8n pod at its maximum replica count holds a full pool.
  const n8nConnections =
    main.replicas * main.dbPoolSize +
    workers.maxReplicas * workers.dbPoolSize +
    (webhooks.enabled ? webhooks.maxReplicas * webhooks.dbPoolSize : 0);
  const derivedMaxConnections = Math.max(100, Math.ceil((n8nConnections + RESERVED_CONNECTIONS) * 1.25));

  const postgres = {
    ...parsed.postgres,
    instances: parsed.postgres.instances ?? preset.postgres.instances,
    storageSize: parsed.postgres.storageSize ?? preset.postgres.storageSize,
    maxConnections: parsed.postgres.maxConnections ?? derivedMaxConnections,
    archive: { ...parsed.postgres.archive, identity: archiveIdentity(parsed.postgres.archive) },
    resources: mergeResources(preset.postgres.resources, parsed.postgres.resources),
  };

  const secrets = secretSources(parsed);
  const redisResources = mergeResources(preset.redis.resources, parsed.redis.resources);
  const redis = {
    ...parsed.redis,
    storageSize: parsed.redis.storageSize ?? preset.redis.storageSize,
    // 80 % of the limit leaves room for the AOF rewrite buffer and client buffers under noeviction.
    maxmemory: parsed.redis.maxmemory ?? formatMemory(memoryBytes(redisResources.limits.memory) * 0.8),
    resources: redisResources,
  };

  return {
    stack,
    namespace: parsed.namespace,
    domain: parsed.domain,
    production: parsed.production,
    size: parsed.size,
    n8n: {
      ...parsed.n8n,
      license: secrets.license,
      owner: { ...parsed.n8n.owner, email: parsed.n8n.owner.email ?? `owner@${parsed.domain}` },
    },
    main,
    workers,
    webhooks,
    runners,
    /** Connections all n8n pools can hold at maximum scale; max_connections must exceed it. */
    n8nConnections,
    postgres,
    redis,
    edge: resolveEdge(parsed.edge, parsed.namespace),
    network: parsed.network,
    monitoring: {
      ...parsed.monitoring,
      dashboardNamespace: parsed.monitoring.dashboardNamespace ?? parsed.network.prometheusNamespace,
    },
    /** n8n's object storage for binary or execution data (s3 modes); undefined when both stay in PostgreSQL. */
    objectStorage: objectStorage(parsed),
    /** Where n8n finds PostgreSQL and Redis (in-cluster or external), and how it checks them. */
    connections: { database: databaseConnection(parsed.postgres), queue: queueConnection(parsed.redis) },
    /** Where the values n8n reads come from; secrets.refs is what every secretKeyRef of them uses. */
    secrets: { refs: secrets.refs, sources: secrets.sources, externalSecret: secrets.externalSecret },
    kubernetes: parsed.kubernetes,
  };
}

export type StackConfig = ReturnType<typeof resolveConfig>;
