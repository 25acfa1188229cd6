/**
 * Names and ports, declared once. Every object name, Secret key and port the components use comes
 * from here, so a Service, its probes, its NetworkPolicies and its ServiceMonitor cannot disagree.
 */

export const PROJECT = "n8n-cluster";

/** Ports of n8n, its task runners, PostgreSQL and Patroni, Redis and the exporters. */
export const PORTS = {
  /** n8n HTTP: editor, API, webhooks, /healthz, /metrics; also the worker health server. */
  n8n: 5678,
  /** Task broker inside each n8n pod; runners connect to it on 127.0.0.1. */
  runnerBroker: 5679,
  /** Task-runner launcher health (/healthz). */
  runnerHealth: 5680,
  postgres: 5432,
  /** Patroni REST API: /readiness, /liveness, /primary, /replica, /metrics. */
  patroni: 8008,
  redis: 6379,
  redisExporter: 9121,
  postgresExporter: 9187,
  dns: 53,
} as const;

/** Kubernetes object names inside the stack's namespace. */
export const NAMES = {
  serviceAccount: "n8n",
  main: "n8n-main",
  worker: "n8n-worker",
  webhook: "n8n-webhook",
  /** The Postgres primary Service, and the Patroni scope (cluster name). */
  postgres: "n8n-postgres",
  postgresReplicas: "n8n-postgres-repl",
  postgresHeadless: "n8n-postgres-headless",
  postgresServiceAccount: "n8n-postgres",
  postgresBootstrap: "n8n-postgres-bootstrap",
  postgresDump: "n8n-postgres-dump",
  /** The dump taken before an n8n release's first start (suffixed with the release). */
  postgresPreUpgradeDump: "n8n-pre-upgrade-dump",
  /** Patroni's dynamic configuration and the script of the Job that applies it. */
  postgresPatroni: "n8n-postgres-patroni",
  postgresPatroniConfig: "n8n-postgres-patroni-config",
  /** WAL-G's web identity files (IRSA). */
  postgresWalg: "n8n-postgres-walg",
  outboxReaper: "n8n-outbox-reaper",
  /** cert-manager: the self-signed bootstrap Issuer, the namespace CA (Certificate, Secret, Issuer), the server certificate. */
  postgresSelfSigned: "n8n-postgres-selfsigned",
  postgresCa: "n8n-postgres-ca",
  postgresTls: "n8n-postgres-tls",
  redis: "n8n-redis",
  /** The edge: the program's own Gateway, the HTTPRoutes and Ingresses (editor and production endpoints), the TLS Secret. */
  gateway: "n8n",
  editorRoute: "n8n-main",
  productionRoute: "n8n-webhooks",
  redirectRoute: "n8n-https-redirect",
  tls: "n8n-tls",
} as const;

/** The listeners of the program's own Gateway: HTTPS for the domain, HTTP for the redirect and ACME. */
export const GATEWAY_LISTENERS = {
  https: { name: "https", port: 443 },
  http: { name: "http", port: 80 },
} as const;

/** Database role names; passwords live in SECRETS.postgres. */
export const DB_USERS = {
  superuser: "postgres",
  replication: "standby",
  app: "n8n",
  /** postgres_exporter's role: pg_monitor and nothing more. */
  monitoring: "postgres_exporter",
} as const;

/** Annotation on the Secret holding the encryption key: where the key came from (read by the policy pack). */
export const KEY_SOURCE_ANNOTATION = "n8n-cluster/encryption-key-source";

/** Label that names a Service, so a ServiceMonitor selects exactly that one. */
export const SERVICE_LABEL = "n8n-cluster/service";

export const APP_DATABASE = "n8n";

/** The Secrets the program writes, and the key of each value in them. */
export const SECRETS = {
  n8n: {
    name: "n8n-core",
    keys: {
      encryptionKey: "encryption-key",
      runnersAuthToken: "runners-auth-token",
      /** The instance owner's password (for people), and its bcrypt hash (for n8n). */
      ownerPassword: "owner-password",
      ownerPasswordHash: "owner-password-hash",
    },
  },
  postgres: {
    name: "n8n-postgres-credentials",
    keys: {
      superuserPassword: "superuser-password",
      replicationPassword: "replication-password",
      appPassword: "app-password",
      monitoringPassword: "monitoring-password",
      /** Patroni REST API, unsafe endpoints (restart, failover, reinitialize, config). */
      patroniApiPassword: "patroni-api-password",
    },
  },
  redis: {
    name: "n8n-redis-credentials",
    keys: { password: "password" },
  },
} as const;

/** The keys of a Secret holding an IAM user's static access key (the backups' and n8n's object storage's). */
export const AWS_KEY_PAIR_KEYS = { accessKeyId: "access-key-id", secretAccessKey: "secret-access-key" } as const;

/** Secret with static AWS keys for WAL-G and the dump job (only with postgres.archive.credentials "static"). */
export const AWS_KEYS_SECRET = { name: "n8n-postgres-aws", keys: AWS_KEY_PAIR_KEYS } as const;

/**
 * n8n's object storage on AWS: the ConfigMap with what exists only once AWS made it (the bucket's
 * name, the IRSA role), and the Secret with the static key (credentials "static").
 */
export const OBJECT_STORAGE = {
  configMap: { name: "n8n-object-storage", keys: { bucket: "bucket", roleArn: "role-arn" } },
  keysSecret: { name: "n8n-object-storage-aws", keys: AWS_KEY_PAIR_KEYS },
} as const;

export type SecretGroup = keyof typeof SECRETS;

/** A key of a Secret in the stack's namespace. */
export interface SecretRef {
  name: string;
  key: string;
}

/**
 * The values a stack may keep outside the program (secrets.existing, secrets.externalSecret), each
 * with the place the program keeps it otherwise. The others (Spilo's superuser, replication and
 * Patroni passwords, the owner's password) only exist inside the in-cluster parts.
 */
export const EXTERNAL_VALUES = {
  encryptionKey: { group: "n8n", key: "encryptionKey" },
  runnersAuthToken: { group: "n8n", key: "runnersAuthToken" },
  postgresPassword: { group: "postgres", key: "appPassword" },
  redisPassword: { group: "redis", key: "password" },
} as const satisfies Record<string, { group: SecretGroup; key: string }>;
export type ExternalValue = keyof typeof EXTERNAL_VALUES;

/** Where each of those values is read from, resolved from the stack config (config/resolve.ts). */
export type SecretRefs = Record<ExternalValue, SecretRef>;

/** The Secret the External Secrets Operator writes for secrets.externalSecret (owned by its ExternalSecret). */
export const EXTERNAL_SECRET = { name: "n8n-external" } as const;

/** The program's own place of a value. */
export function programRef(value: ExternalValue): SecretRef {
  const { group, key } = EXTERNAL_VALUES[value];
  const secret = SECRETS[group];
  return { name: secret.name, key: (secret.keys as Record<string, string>)[key] as string };
}

/** `valueFrom.secretKeyRef` for one value of one of the program's Secrets. */
export function secretKeyRef<G extends SecretGroup>(group: G, key: keyof (typeof SECRETS)[G]["keys"]) {
  const secret = SECRETS[group];
  return {
    secretKeyRef: { name: secret.name, key: (secret.keys as Record<PropertyKey, string>)[key] as string },
  };
}
