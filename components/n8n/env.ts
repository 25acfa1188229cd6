/**
 * The one env builder shared by every n8n container (main, worker, webhook) and the task-runner
 * sidecar. Names are n8n 2.x's own (test/fixtures/env-names-2.40.7.txt, read off n8n 2.40.7; a test checks each); secrets only ever arrive
 * through secretKeyRef.
 */

import { WEB_IDENTITY_TOKEN_FILE } from "../kubernetes/aws-identity";
import { type EnvVar, envFromConfigMapKey, envFromSecretKey, envValue } from "../kubernetes/fragments";
import { OBJECT_STORAGE, PORTS, secretKeyRef } from "../kubernetes/names";
import type { N8nProps } from "./props";

export type N8nRole = "main" | "worker" | "webhook";

export type { EnvVar } from "../kubernetes/fragments";

/**
 * Settings whose defaults n8n 2.40.7 announces will change: pinned so an upgrade cannot change
 * behaviour silently (the values are the announced future defaults).
 */
export const PINNED_FUTURE_DEFAULTS = {
  N8N_UNVERIFIED_PACKAGES_ENABLED: "false",
  // 256 MiB and 1000 entries: the announced future limits of the Compression node (today 2 GiB / 5000).
  N8N_COMPRESSION_NODE_MAX_DECOMPRESSED_SIZE_BYTES: String(256 * 1024 * 1024),
  N8N_COMPRESSION_NODE_MAX_ZIP_ENTRIES: "1000",
} as const;

/** The base URL users and webhooks reach n8n at. */
export function publicUrl(props: N8nProps): string {
  return `https://${props.domain}/`;
}

/** Pool size of one pod of a role. */
export function poolSize(props: N8nProps, role: N8nRole): number {
  return { main: props.main.dbPoolSize, worker: props.workers.dbPoolSize, webhook: props.webhooks.dbPoolSize }[role];
}

/**
 * Seconds n8n waits for its running executions on SIGTERM before it exits with them unfinished
 * (N8N_GRACEFUL_SHUTDOWN_TIMEOUT). A worker runs executions of up to EXECUTIONS_TIMEOUT_MAX and
 * Bull never re-runs a job whose worker left (maxStalledCount 0): a leaving worker waits that long,
 * plus the time to save. Main and webhook processors run no production executions.
 */
export function shutdownSeconds(props: N8nProps, role: N8nRole): number {
  const n8n = props.n8n;
  return role === "worker"
    ? n8n.executions.maxTimeoutSeconds + n8n.gracefulShutdownSeconds
    : n8n.gracefulShutdownSeconds;
}

/** Where the CA bundles of the servers are mounted in the n8n container (caVolumes). */
export const CA_MOUNTS = { database: "/etc/n8n/ca/postgres", queue: "/etc/n8n/ca/redis" } as const;
const CA_FILE = "ca.crt";
export const caFile = (which: keyof typeof CA_MOUNTS) => `${CA_MOUNTS[which]}/${CA_FILE}`;

/** The volumes (and mounts) of the CA bundles the stack names, each projected to ca.crt. */
export function caVolumes(props: N8nProps) {
  const c = props.connections;
  return (["database", "queue"] as const).flatMap((which) => {
    const ca = c[which].ca;
    if (!ca) return [];
    const name = `${which === "database" ? "postgres" : "redis"}-ca`;
    const items = [{ key: ca.key, path: CA_FILE }];
    return [
      {
        volume:
          ca.kind === "secret"
            ? { name, secret: { secretName: ca.name, items } }
            : { name, configMap: { name: ca.name, items } },
        mount: { name, mountPath: CA_MOUNTS[which], readOnly: true },
      },
    ];
  });
}

/**
 * PostgreSQL: host, database and user, and TLS. verify-full checks the certificate against the CA
 * bundle (DB_POSTGRESDB_SSL_CA_FILE: n8n reads a file for any setting through <NAME>_FILE) and the
 * host; require encrypts without checking (the in-cluster Spilo's self-signed certificate).
 */
function databaseEnv(props: N8nProps, role: N8nRole): EnvVar[] {
  const db = props.connections.database;
  return [
    envValue("DB_POSTGRESDB_HOST", db.host),
    envValue("DB_POSTGRESDB_PORT", db.port),
    envValue("DB_POSTGRESDB_DATABASE", db.database),
    envValue("DB_POSTGRESDB_USER", db.user),
    envFromSecretKey("DB_POSTGRESDB_PASSWORD", props.secretRefs.postgresPassword),
    envValue("DB_POSTGRESDB_POOL_SIZE", poolSize(props, role)),
    // n8n would send `SET statement_timeout` on every pool checkout (about 10 extra round trips per
    // execution); the app role carries the same timeout in PostgreSQL instead (bootstrap Job).
    envValue("DB_POSTGRESDB_STATEMENT_TIMEOUT", 0),
    // After a database failover n8n re-creates its pool, retrying with a backoff that grows to 30 s
    // by default: the pool came back seconds after the new primary, and a worker failed every job
    // it took meanwhile ("Driver not Connected"). A constant 1 s step instead
    // (test/engine/postgres-failover.test.ts; README "PostgreSQL failover timings").
    envValue("DB_RECOVERY_BACKOFF_MAX_MS", 1000),
    ...(db.sslMode === "disable"
      ? []
      : [
          envValue("DB_POSTGRESDB_SSL_ENABLED", true),
          envValue("DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED", db.sslMode === "verify-full"),
          ...(db.ca && db.sslMode === "verify-full" ? [envValue("DB_POSTGRESDB_SSL_CA_FILE", caFile("database"))] : []),
        ]),
  ];
}

/**
 * Redis: host, credentials, TLS and cluster nodes. n8n has no Redis CA setting: a private CA is
 * added to Node's trust store (NODE_EXTRA_CA_CERTS, read at start), and ioredis verifies against it.
 */
function queueEnv(props: N8nProps): EnvVar[] {
  const q = props.connections.queue;
  return [
    envValue("QUEUE_BULL_REDIS_HOST", q.host),
    envValue("QUEUE_BULL_REDIS_PORT", q.port),
    envValue("QUEUE_BULL_REDIS_DB", 0),
    ...(q.username ? [envValue("QUEUE_BULL_REDIS_USERNAME", q.username)] : []),
    envFromSecretKey("QUEUE_BULL_REDIS_PASSWORD", props.secretRefs.redisPassword),
    ...(q.tls
      ? [envValue("QUEUE_BULL_REDIS_TLS", true), envValue("QUEUE_BULL_REDIS_TLS_VALIDATE_CERTIFICATE", true)]
      : []),
    ...(q.clusterNodes.length > 0 ? [envValue("QUEUE_BULL_REDIS_CLUSTER_NODES", q.clusterNodes.join(","))] : []),
    ...(q.ca && q.tls ? [envValue("NODE_EXTRA_CA_CERTS", caFile("queue"))] : []),
  ];
}

/**
 * Binary and execution data: in PostgreSQL (n8n's queue-mode default), or in the object storage
 * (n8n's @n8n/blob-storage ObjectStoreConfig). On AWS the SDK's own endpoint is used (no host): the
 * bucket's name and the IRSA role come from the ConfigMap the object storage component writes, and
 * the SDK finds the web identity through AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE
 * (N8N_EXTERNAL_STORAGE_S3_AUTH_AUTO_DETECT: its default credential chain). Every role gets it: the
 * webhook processors store the binary data of incoming requests, workers write, main reads.
 */
function storageEnv(props: N8nProps): EnvVar[] {
  const { binaryData, executionData } = props.n8n;
  const base = [
    envValue("N8N_DEFAULT_BINARY_DATA_MODE", binaryData.mode),
    ...(binaryData.databaseMaxFileSizeMiB !== undefined
      ? [envValue("N8N_BINARY_DATA_DATABASE_MAX_FILE_SIZE", binaryData.databaseMaxFileSizeMiB)]
      : []),
    ...(executionData.mode !== "database" ? [envValue("N8N_EXECUTION_DATA_STORAGE_MODE", executionData.mode)] : []),
  ];
  const o = props.objectStorage;
  if (!o) return base;
  const s3 = (name: string) => `N8N_EXTERNAL_STORAGE_S3_${name}`;
  if (o.provider === "s3-compatible") {
    return [
      ...base,
      envValue(s3("HOST"), o.host),
      envValue(s3("PROTOCOL"), o.protocol),
      envValue(s3("FORCE_PATH_STYLE"), o.forcePathStyle),
      envValue(s3("BUCKET_NAME"), o.bucketName),
      envValue(s3("BUCKET_REGION"), o.region),
      envFromSecretKey(s3("ACCESS_KEY"), o.accessKey),
      envFromSecretKey(s3("ACCESS_SECRET"), o.secretKey),
    ];
  }
  const map = OBJECT_STORAGE.configMap;
  const keys = OBJECT_STORAGE.keysSecret;
  return [
    ...base,
    envFromConfigMapKey(s3("BUCKET_NAME"), { name: map.name, key: map.keys.bucket }),
    envValue(s3("BUCKET_REGION"), o.region),
    ...(o.identity.kind === "irsa"
      ? [
          envValue(s3("AUTH_AUTO_DETECT"), true),
          // What the AWS SDK for JavaScript v3 reads for a web identity (credential-provider-web-identity).
          envFromConfigMapKey("AWS_ROLE_ARN", { name: map.name, key: map.keys.roleArn }),
          envValue("AWS_WEB_IDENTITY_TOKEN_FILE", WEB_IDENTITY_TOKEN_FILE),
          envValue("AWS_ROLE_SESSION_NAME", "n8n"),
        ]
      : [
          envFromSecretKey(s3("ACCESS_KEY"), { name: keys.name, key: keys.keys.accessKeyId }),
          envFromSecretKey(s3("ACCESS_SECRET"), { name: keys.name, key: keys.keys.secretAccessKey }),
        ]),
  ];
}

function commonEnv(props: N8nProps, role: N8nRole): EnvVar[] {
  const { n8n, runners } = props;
  const ex = n8n.executions;
  return [
    // Queue mode: main and webhook processors enqueue into Redis, workers run the jobs.
    envValue("EXECUTIONS_MODE", "queue"),
    envValue("DB_TYPE", "postgresdb"),
    ...databaseEnv(props, role),
    ...queueEnv(props),
    envValue("QUEUE_BULL_PREFIX", n8n.queuePrefix),
    // n8n exits when Redis stays unreachable this long (milliseconds): longer than a Redis restart.
    envValue("QUEUE_BULL_REDIS_TIMEOUT_THRESHOLD", n8n.redisTimeoutThresholdSeconds * 1000),
    envFromSecretKey("N8N_ENCRYPTION_KEY", props.secretRefs.encryptionKey),
    envValue("N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS", true),
    envValue("N8N_PORT", PORTS.n8n),
    // URLs n8n writes into responses and resume links, on every role.
    envValue("N8N_HOST", props.domain),
    envValue("N8N_PROTOCOL", "https"),
    envValue("N8N_WEBHOOK_URL", publicUrl(props)),
    envValue("N8N_EDITOR_BASE_URL", publicUrl(props)),
    envValue("GENERIC_TIMEZONE", n8n.timezone),
    envValue("N8N_LOG_LEVEL", n8n.logLevel),
    envValue("N8N_LOG_FORMAT", n8n.logFormat),
    envValue("N8N_LOG_OUTPUT", "console"),
    envValue("N8N_METRICS", true),
    envValue("N8N_METRICS_INCLUDE_DEFAULT_METRICS", true),
    envValue("N8N_METRICS_INCLUDE_QUEUE_METRICS", true),
    envValue("N8N_METRICS_INCLUDE_API_ENDPOINTS", role !== "worker"),
    envValue("N8N_METRICS_INCLUDE_WORKFLOW_EXECUTION_DURATION", true),
    envValue("N8N_METRICS_INCLUDE_MESSAGE_EVENT_BUS_METRICS", true),
    envValue("N8N_DIAGNOSTICS_ENABLED", false),
    envValue("N8N_VERSION_NOTIFICATIONS_ENABLED", false),
    envValue("N8N_SSRF_PROTECTION_ENABLED", n8n.ssrfProtection),
    envValue("N8N_GRACEFUL_SHUTDOWN_TIMEOUT", shutdownSeconds(props, role)),
    // Queue mode cannot share a filesystem between pods: binary data lives in PostgreSQL or S3.
    ...storageEnv(props),
    envValue("EXECUTIONS_DATA_PRUNE", true),
    envValue("EXECUTIONS_DATA_MAX_AGE", ex.pruneMaxAgeHours),
    envValue("EXECUTIONS_DATA_PRUNE_MAX_COUNT", ex.pruneMaxCount),
    envValue("EXECUTIONS_DATA_SAVE_ON_SUCCESS", ex.saveOnSuccess),
    envValue("EXECUTIONS_DATA_SAVE_ON_ERROR", ex.saveOnError),
    envValue("EXECUTIONS_DATA_SAVE_MANUAL_EXECUTIONS", ex.saveManual),
    envValue("EXECUTIONS_TIMEOUT", ex.timeoutSeconds),
    envValue("EXECUTIONS_TIMEOUT_MAX", ex.maxTimeoutSeconds),
    // Task runners: external mode talks to a sidecar over loopback; internal mode is deprecated.
    envValue("N8N_RUNNERS_MODE", runners.enabled ? "external" : "internal"),
    ...(runners.enabled
      ? [
          envFromSecretKey("N8N_RUNNERS_AUTH_TOKEN", props.secretRefs.runnersAuthToken),
          envValue("N8N_RUNNERS_BROKER_LISTEN_ADDRESS", "127.0.0.1"),
          envValue("N8N_RUNNERS_BROKER_PORT", PORTS.runnerBroker),
        ]
      : []),
    envValue("N8N_RUNNERS_TASK_TIMEOUT", runners.taskTimeoutSeconds),
    // Every execution evaluates its expressions in a fresh isolate; reuse V8's compiled code of the
    // runtime bundle across isolates instead of parsing it again each time (V8 checks the cache).
    envValue("N8N_EXPRESSION_ENGINE_COMPILE_CACHE", true),
    ...Object.entries(PINNED_FUTURE_DEFAULTS).map(([k, v]) => envValue(k, v)),
  ];
}

/**
 * The instance owner, set by main at every start (n8n's owner instance-settings loader: it
 * overwrites the owner with these values), so a fresh editor has no "claim this instance" page.
 * n8n gets only the password's bcrypt hash.
 */
function ownerEnv(props: N8nProps): EnvVar[] {
  const o = props.n8n.owner;
  if (!o.managedByEnv) return [];
  return [
    envValue("N8N_INSTANCE_OWNER_MANAGED_BY_ENV", true),
    envValue("N8N_INSTANCE_OWNER_EMAIL", o.email),
    envValue("N8N_INSTANCE_OWNER_FIRST_NAME", o.firstName),
    envValue("N8N_INSTANCE_OWNER_LAST_NAME", o.lastName),
    { name: "N8N_INSTANCE_OWNER_PASSWORD_HASH", valueFrom: secretKeyRef("n8n", "ownerPasswordHash") },
  ];
}

/** Main activates the licence (then shared through the database) and sends the user-management mail. */
function licenseAndMailEnv(props: N8nProps): EnvVar[] {
  const { license, smtp } = props.n8n;
  return [
    ...(license ? [envFromSecretKey("N8N_LICENSE_ACTIVATION_KEY", license)] : []),
    ...(smtp.host
      ? [
          envValue("N8N_EMAIL_MODE", "smtp"),
          envValue("N8N_SMTP_HOST", smtp.host),
          envValue("N8N_SMTP_PORT", smtp.port),
          envValue("N8N_SMTP_SSL", smtp.ssl),
          envValue("N8N_SMTP_STARTTLS", smtp.startTls),
          ...(smtp.user ? [envValue("N8N_SMTP_USER", smtp.user)] : []),
          ...(smtp.password ? [envFromSecretKey("N8N_SMTP_PASS", smtp.password)] : []),
          ...(smtp.sender ? [envValue("N8N_SMTP_SENDER", smtp.sender)] : []),
        ]
      : []),
  ];
}

/**
 * Instance settings main writes from env at every start (n8n's instance-settings loaders): OIDC or
 * SAML login, the security policy, log-streaming destinations. The secret parts come from Secrets.
 */
function managedSettingsEnv(props: N8nProps): EnvVar[] {
  const { sso, securityPolicy: policy, logStreaming } = props.n8n;
  const { oidc, saml } = sso;
  return [
    ...(oidc || saml ? [envValue("N8N_SSO_MANAGED_BY_ENV", true)] : []),
    ...(oidc
      ? [
          envValue("N8N_SSO_OIDC_LOGIN_ENABLED", true),
          envValue("N8N_SSO_OIDC_DISCOVERY_ENDPOINT", oidc.discoveryEndpoint),
          envValue("N8N_SSO_OIDC_CLIENT_ID", oidc.clientId),
          envFromSecretKey("N8N_SSO_OIDC_CLIENT_SECRET", oidc.clientSecret),
          envValue("N8N_SSO_OIDC_PROMPT", oidc.prompt),
          ...(oidc.additionalScopes ? [envValue("N8N_SSO_OIDC_ADDITIONAL_SCOPES", oidc.additionalScopes)] : []),
          ...(oidc.acrValues ? [envValue("N8N_SSO_OIDC_ACR_VALUES", oidc.acrValues)] : []),
          envValue("N8N_SSO_OIDC_RP_INITIATED_LOGOUT_ENABLED", oidc.rpInitiatedLogout),
        ]
      : []),
    ...(saml
      ? [
          envValue("N8N_SSO_SAML_LOGIN_ENABLED", true),
          ...(saml.metadataUrl ? [envValue("N8N_SSO_SAML_METADATA_URL", saml.metadataUrl)] : []),
          ...(saml.metadata ? [envFromConfigMapKey("N8N_SSO_SAML_METADATA", saml.metadata)] : []),
          ...(saml.loginLabel ? [envValue("N8N_SSO_SAML_LOGIN_LABEL", saml.loginLabel)] : []),
        ]
      : []),
    ...(policy.managedByEnv
      ? [
          envValue("N8N_SECURITY_POLICY_MANAGED_BY_ENV", true),
          envValue("N8N_MFA_ENFORCED_ENABLED", policy.mfaEnforced),
          envValue("N8N_PERSONAL_SPACE_PUBLISHING_ENABLED", policy.personalSpacePublishing),
          envValue("N8N_PERSONAL_SPACE_SHARING_ENABLED", policy.personalSpaceSharing),
        ]
      : []),
    ...(logStreaming.destinations
      ? [
          envValue("N8N_LOG_STREAMING_MANAGED_BY_ENV", true),
          envFromSecretKey("N8N_LOG_STREAMING_DESTINATIONS", logStreaming.destinations),
        ]
      : []),
  ];
}

function roleEnv(props: N8nProps, role: N8nRole): EnvVar[] {
  switch (role) {
    case "main":
      return [
        envValue("N8N_PROXY_HOPS", 1),
        // Manual runs from the editor go to workers too, so main's event loop stays on the UI and API.
        envValue("OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS", true),
        // The leading main marks as crashed what PostgreSQL lists as running and no worker holds in
        // the queue (a failover cut it off); what a worker still holds is never touched.
        envValue("N8N_EXECUTIONS_QUEUE_RECOVERY_INTERVAL", props.n8n.executions.queueRecoveryMinutes),
        ...(props.webhooks.enabled ? [envValue("N8N_DISABLE_PRODUCTION_MAIN_PROCESS", true)] : []),
        ...(props.n8n.multiMain ? [envValue("N8N_MULTI_MAIN_SETUP_ENABLED", true)] : []),
        ...ownerEnv(props),
        ...licenseAndMailEnv(props),
        ...managedSettingsEnv(props),
      ];
    case "worker":
      // The worker's health server serves /healthz, /healthz/readiness and /metrics.
      return [envValue("QUEUE_HEALTH_CHECK_ACTIVE", true), envValue("QUEUE_HEALTH_CHECK_PORT", PORTS.n8n)];
    case "webhook":
      return [envValue("N8N_PROXY_HOPS", 1)];
  }
}

/** The complete env of an n8n container of a role. */
export function n8nEnv(props: N8nProps, role: N8nRole): EnvVar[] {
  return [...commonEnv(props, role), ...roleEnv(props, role)];
}

/** Env of the task-runner launcher sidecar (n8nio/runners); it passes the allowed ones to runners. */
export function runnerEnv(props: N8nProps): EnvVar[] {
  const r = props.runners;
  return [
    envValue("N8N_RUNNERS_TASK_BROKER_URI", `http://127.0.0.1:${PORTS.runnerBroker}`),
    envFromSecretKey("N8N_RUNNERS_AUTH_TOKEN", props.secretRefs.runnersAuthToken),
    envValue("N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT", r.autoShutdownTimeoutSeconds),
    envValue("N8N_RUNNERS_MAX_CONCURRENCY", r.maxConcurrency),
    envValue("N8N_RUNNERS_TASK_TIMEOUT", r.taskTimeoutSeconds),
    envValue("GENERIC_TIMEZONE", props.n8n.timezone),
  ];
}
