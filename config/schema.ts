/**
 * The zod schema of a stack's configuration (the `n8n-cluster:` keys of Pulumi.<stack>.yaml).
 * Every object is strict, so a typo is an error that names the key and lists the allowed ones.
 * Workload sizes are optional here: what a stack leaves out comes from its size preset (presets.ts),
 * resolved in resolve.ts. Error texts say what is allowed; errors.ts adds the key path and value.
 */
import { z } from "zod";
import { EXTERNAL_SECRET, EXTERNAL_VALUES } from "../components/kubernetes/names";
import { parseQuantity } from "./quantity";

/** A strict object whose unknown-key error lists the keys that are allowed. */
function strict<T extends z.ZodRawShape>(shape: T) {
  const allowed = Object.keys(shape).join(", ");
  return z.strictObject(shape, {
    error: (issue) => (issue.code === "unrecognized_keys" ? `is not a known key; allowed here: ${allowed}` : undefined),
  });
}

/** A nested section that may be left out entirely: its own defaults then apply. */
function section<T extends z.ZodRawShape>(shape: T) {
  const schema = strict(shape);
  return schema.prefault({} as z.input<typeof schema>);
}

const int = (min: number, max: number) =>
  z
    .int({ error: `must be a whole number from ${min} to ${max}` })
    .min(min)
    .max(max);

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.map((v) => `"${v}"`).join(", ")}` });

const bool = z.boolean({ error: "must be true or false" });

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$/;
const SEMVER = /^2\.[0-9]+\.[0-9]+$/;
const CRON = /^(\S+\s+){4}\S+$/;
const CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/([0-9]|[12][0-9]|3[0-2])$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const AWS_REGION = /^[a-z]{2}(-gov)?-[a-z]+-[0-9]$/;
const ARN = /^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:.+$/;

const dnsLabel = z
  .string({ error: "must be a string" })
  .regex(DNS_LABEL, "must be a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters");
const HOSTNAME_TEXT = "must be a lowercase DNS name with at least one dot, e.g. n8n.example.com";
const hostname = z.string({ error: HOSTNAME_TEXT }).regex(HOSTNAME, HOSTNAME_TEXT);
const cidr = z.string({ error: "must be a string" }).regex(CIDR, "must be an IPv4 CIDR such as 10.0.0.0/8");
const port = int(1, 65535);
const cron = z
  .string({ error: "must be a string" })
  .regex(CRON, 'must be a five-field cron expression such as "0 2 * * *"');

function quantity(kind: "CPU" | "memory", example: string) {
  return z
    .union([z.string(), z.number()], { error: `must be a ${kind} quantity such as "${example}"` })
    .refine((q) => {
      const v = parseQuantity(q);
      return v !== undefined && v > 0;
    }, `must be a positive ${kind} quantity such as "${example}"`)
    .transform((q) => String(q));
}
const cpu = quantity("CPU", "500m");
const memory = quantity("memory", "512Mi");

const resources = section({
  requests: section({
    cpu: cpu.optional().describe("CPU request per pod (container)"),
    memory: memory.optional().describe("memory request"),
  }),
  limits: section({
    cpu: cpu.optional().describe("CPU limit"),
    memory: memory.optional().describe("memory limit"),
  }),
});

const hpaTargets = {
  minReplicas: int(1, 100).optional().describe("HPA minimum replicas"),
  maxReplicas: int(1, 200).optional().describe("HPA maximum replicas"),
  targetCPUUtilizationPercentage: int(10, 100)
    .default(80)
    .describe("average CPU utilisation (% of requests) the HPA aims for (R1: CPU 80 %)"),
  targetMemoryUtilizationPercentage: int(10, 100).default(80).describe("average memory utilisation the HPA aims for"),
  scaleDownStabilizationSeconds: int(0, 3600)
    .default(600)
    .describe("seconds the HPA waits before scaling down, so busy pods are not removed in bursts"),
};

const toleration = strict({
  key: z.string({ error: "must be a string" }).optional(),
  operator: oneOf(["Exists", "Equal"]).optional(),
  value: z.string({ error: "must be a string" }).optional(),
  effect: oneOf(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
  tolerationSeconds: int(0, 86_400).optional(),
});

/** Where a workload's pods may run: e.g. workers on a spot node pool. */
const scheduling = {
  nodeSelector: z
    .record(z.string(), z.string({ error: "must be a string" }))
    .default({})
    .describe("node labels the pods require (e.g. a spot node pool)"),
  tolerations: z.array(toleration).default([]).describe("taints the pods tolerate"),
  priorityClassName: dnsLabel.optional().describe("PriorityClass of the pods"),
};

/** One extra env var: a value, or a key of an existing Secret or ConfigMap (exactly one). */
const keyRef = strict({
  name: dnsLabel.describe("Secret or ConfigMap name"),
  key: z
    .string({ error: "must be a string" })
    .regex(/^[-._a-zA-Z0-9]+$/, "must be a Secret or ConfigMap key (letters, digits, '-', '_', '.')")
    .describe("the key in it"),
});
const exactlyOne = (keys: string[]) => (v: Record<string, unknown>) =>
  keys.filter((k) => v[k] !== undefined).length === 1;
const extraEnvVar = strict({
  name: z
    .string({ error: "must be a string" })
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name (letters, digits, '_')"),
  value: z.string({ error: "must be a string" }).optional(),
  secretKeyRef: keyRef.optional(),
  configMapKeyRef: keyRef.optional(),
}).refine(exactlyOne(["value", "secretKeyRef", "configMapKeyRef"]), {
  message: "needs exactly one of value, secretKeyRef or configMapKeyRef",
});
const envFromSource = strict({
  secretRef: dnsLabel.optional(),
  configMapRef: dnsLabel.optional(),
}).refine(exactlyOne(["secretRef", "configMapRef"]), { message: "needs exactly one of secretRef or configMapRef" });
/** A raw Kubernetes volume source, passed through as written. */
const volumeSource = z.record(z.string(), z.unknown(), { error: "must be a map (a Kubernetes volume source)" });
const VOLUME_SOURCES = ["secret", "configMap", "emptyDir", "persistentVolumeClaim", "csi", "projected"];
const extraVolume = strict({
  name: dnsLabel,
  ...Object.fromEntries(VOLUME_SOURCES.map((k) => [k, volumeSource.optional()])),
}).refine(exactlyOne(VOLUME_SOURCES), { message: `needs exactly one source: ${VOLUME_SOURCES.join(", ")}` });
const extraVolumeMount = strict({
  name: dnsLabel,
  mountPath: z.string({ error: "must be a string" }).regex(/^\/./, "must be an absolute path"),
  readOnly: bool.optional(),
  subPath: z.string({ error: "must be a string" }).optional(),
});

/** Escape hatches of a container: what the program does not model, passed through and checked. */
const containerEscapeHatches = (process: string, names: string) => ({
  extraEnv: z
    .array(extraEnvVar)
    .default([])
    .describe(
      `extra env vars of ${process} ({name, value | secretKeyRef | configMapKeyRef}); names must be ones ${names} reads, and none the program sets`,
    ),
  envFrom: z
    .array(envFromSource)
    .default([])
    .describe(
      `Secrets or ConfigMaps whose keys become env vars of ${process} ({secretRef | configMapRef}); not checked`,
    ),
  allowUnknownEnv: bool
    .default(false)
    .describe(`pass extraEnv names ${names} is not known to read (for a newer release or a fork)`),
  extraVolumes: z
    .array(extraVolume)
    .default([])
    .describe(`extra volumes of the pods (a name and one Kubernetes volume source: ${VOLUME_SOURCES.join(", ")})`),
  extraVolumeMounts: z
    .array(extraVolumeMount)
    .default([])
    .describe(`mounts of extraVolumes into ${process} ({name, mountPath, readOnly, subPath})`),
});

/** Escape hatches of an n8n role: the container's, plus raw affinity for its pods. */
const escapeHatches = {
  ...containerEscapeHatches("the n8n container", "the pinned n8n"),
  affinity: z
    .record(z.string(), z.unknown(), { error: "must be a map (a Kubernetes affinity)" })
    .optional()
    .describe("raw Kubernetes affinity of the pods (none by default: topology spread only)"),
};

/** The values a stack may keep outside the program, in the order the config table lists them. */
const EXTERNAL_VALUE_NAMES = Object.keys(EXTERNAL_VALUES) as (keyof typeof EXTERNAL_VALUES)[];
const EXTERNAL_VALUE_TEXT: Record<string, string> = {
  encryptionKey: "N8N_ENCRYPTION_KEY",
  runnersAuthToken: "N8N_RUNNERS_AUTH_TOKEN (n8n and its runners)",
  postgresPassword: "the password of n8n's database user (DB_POSTGRESDB_PASSWORD)",
  redisPassword: "the Redis password (QUEUE_BULL_REDIS_PASSWORD)",
  license: "N8N_LICENSE_ACTIVATION_KEY",
};
/** Where a secret store keeps a value: its key, and a property inside a JSON value. */
const remoteRef = strict({
  key: z.string({ error: "must be a string" }).min(1).describe("the key (path or name) in the store"),
  property: z.string({ error: "must be a string" }).min(1).optional().describe("a property of a JSON value"),
});

/** A CA bundle (PEM) in a key of an existing Secret or ConfigMap (trust-manager writes ConfigMaps). */
const caRef = strict({
  secret: dnsLabel.optional().describe("Secret holding the CA bundle"),
  configMap: dnsLabel.optional().describe("ConfigMap holding the CA bundle"),
  key: z
    .string({ error: "must be a string" })
    .regex(/^[-._a-zA-Z0-9]+$/, "must be a Secret or ConfigMap key (letters, digits, '-', '_', '.')")
    .default("ca.crt")
    .describe("the key of the PEM bundle"),
}).refine(exactlyOne(["secret", "configMap"]), { message: "needs exactly one of secret or configMap" });

const HOST_TEXT = "must be a DNS name or an IPv4 address";
const serverHost = z
  .string({ error: HOST_TEXT })
  .regex(/^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/, HOST_TEXT);
const egressCidrs = (what: string) =>
  z
    .array(cidr)
    .min(1, "must list at least one CIDR")
    .describe(`addresses of ${what} the n8n pods may reach (NetworkPolicy egress; a DNS name cannot be used there)`);

export const PRIVATE_RANGES = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "169.254.0.0/16",
  "100.64.0.0/10",
  "127.0.0.0/8",
];

export const LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory";

const bucketName = z.string({ error: "must be a string" }).regex(BUCKET, "must be a valid S3 bucket name");
const awsRegion = z
  .string({ error: "must be a string" })
  .regex(AWS_REGION, 'must be an AWS region such as "eu-west-1"');
const kmsKeyArn = z.string({ error: "must be a string" }).regex(ARN, "must be a KMS key ARN");
const awsCredentials = oneOf(["irsa", "static"]);
const oidcProviderArn = z.string({ error: "must be a string" }).regex(ARN, "must be an IAM OIDC provider ARN");
const oidcIssuer = z
  .string({ error: "must be a string" })
  .regex(/^[a-z0-9.-]+(\/[A-Za-z0-9._-]+)*$/, "must be the issuer host and path without https://");

/**
 * The opt-in that lifts a data store StatefulSet's `protect` (components/kubernetes/data-store.ts);
 * one definition for PostgreSQL and Redis.
 */
const allowReplace = bool
  .default(false)
  .describe(
    "let `pulumi up` replace the StatefulSet (deleted with propagation orphan, so its pods keep running) when a field Kubernetes cannot change in place changes (volume size or class); otherwise such a change fails the preview. To resize a volume, follow the README's runbook (PostgreSQL, Runbooks) instead",
  );

export const stackConfigSchema = strict({
  namespace: dnsLabel.default("n8n").describe("namespace the whole cluster lives in (created by the program)"),
  domain: hostname.describe("public DNS name of the editor, API and webhooks (required)"),
  production: bool
    .default(false)
    .describe("production stack: HA rules apply (workers.minReplicas >= 2, postgres.instances >= 2)"),
  size: oneOf(["small", "medium", "large"])
    .default("small")
    .describe("size preset for replicas, pools and resources; explicit keys override it"),
  n8n: section({
    version: z
      .string({ error: "must be a string" })
      .regex(SEMVER, 'must be an exact n8n 2.x release such as "2.40.7"')
      .default("2.40.7")
      .describe("n8n release, used for both n8nio/n8n and n8nio/runners"),
    image: z
      .string({ error: "must be a string" })
      .min(1)
      .default("docker.io/n8nio/n8n")
      .describe("n8n image repository"),
    runnersImage: z
      .string({ error: "must be a string" })
      .min(1)
      .default("docker.io/n8nio/runners")
      .describe("task-runner image repository"),
    timezone: z.string({ error: "must be a string" }).min(1).default("UTC").describe("GENERIC_TIMEZONE"),
    logLevel: oneOf(["error", "warn", "info", "debug"]).default("info").describe("N8N_LOG_LEVEL"),
    logFormat: oneOf(["text", "json"]).default("json").describe("N8N_LOG_FORMAT; json for log shippers"),
    multiMain: bool.default(false).describe("multi-main (Enterprise licence); without it main.replicas must be 1"),
    license: keyRef
      .optional()
      .describe(
        "N8N_LICENSE_ACTIVATION_KEY on main, from a key of an existing Secret ({name, key}); needed for Enterprise features such as multi-main",
      ),
    smtp: section({
      host: z
        .string({ error: "must be a string" })
        .min(1)
        .optional()
        .describe("N8N_SMTP_HOST: main sends invitations and password resets through it; no mail when unset"),
      port: port.default(465).describe("N8N_SMTP_PORT"),
      ssl: bool.default(true).describe("N8N_SMTP_SSL: TLS from the first byte (port 465)"),
      startTls: bool.default(true).describe("N8N_SMTP_STARTTLS: upgrade a plain connection (port 587)"),
      user: z.string({ error: "must be a string" }).min(1).optional().describe("N8N_SMTP_USER"),
      password: keyRef.optional().describe("N8N_SMTP_PASS from a key of an existing Secret ({name, key})"),
      sender: z
        .string({ error: "must be a string" })
        .min(3)
        .optional()
        .describe('N8N_SMTP_SENDER, e.g. "n8n <n8n@example.com>"'),
    }),
    owner: section({
      managedByEnv: bool
        .default(true)
        .describe(
          "N8N_INSTANCE_OWNER_MANAGED_BY_ENV: the owner account exists from the first start (a generated password, output ownerPassword), so no visitor can claim a fresh instance; false leaves the claim to the first visitor of the editor",
        ),
      email: z
        .email({ error: "must be an e-mail address" })
        .optional()
        .describe("the owner's login e-mail; owner@<domain> when unset"),
      firstName: z.string({ error: "must be a string" }).min(1).default("Instance").describe("the owner's first name"),
      lastName: z.string({ error: "must be a string" }).min(1).default("Owner").describe("the owner's last name"),
    }),
    sso: section({
      oidc: strict({
        discoveryEndpoint: z
          .url({ error: "must be a URL" })
          .describe("N8N_SSO_OIDC_DISCOVERY_ENDPOINT: the provider's .well-known/openid-configuration URL"),
        clientId: z.string({ error: "must be a string" }).min(1).describe("N8N_SSO_OIDC_CLIENT_ID"),
        clientSecret: keyRef.describe("N8N_SSO_OIDC_CLIENT_SECRET from a key of an existing Secret ({name, key})"),
        prompt: oneOf(["none", "login", "consent", "select_account", "create"])
          .default("select_account")
          .describe("N8N_SSO_OIDC_PROMPT"),
        additionalScopes: z
          .string({ error: "must be a string" })
          .optional()
          .describe("N8N_SSO_OIDC_ADDITIONAL_SCOPES, comma-separated"),
        acrValues: z.string({ error: "must be a string" }).optional().describe("N8N_SSO_OIDC_ACR_VALUES"),
        rpInitiatedLogout: bool.default(false).describe("N8N_SSO_OIDC_RP_INITIATED_LOGOUT_ENABLED"),
      })
        .optional()
        .describe(
          "OIDC login, managed by env (N8N_SSO_MANAGED_BY_ENV): main writes it at every start, so the UI cannot change it (Enterprise licence)",
        ),
      saml: strict({
        metadataUrl: z
          .url({ error: "must be a URL" })
          .optional()
          .describe("N8N_SSO_SAML_METADATA_URL: where n8n reads the identity provider's metadata"),
        metadata: keyRef
          .optional()
          .describe("N8N_SSO_SAML_METADATA: the metadata XML, from a key of an existing ConfigMap ({name, key})"),
        loginLabel: z
          .string({ error: "must be a string" })
          .min(1)
          .optional()
          .describe("N8N_SSO_SAML_LOGIN_LABEL: the login button's text"),
      })
        .refine(exactlyOne(["metadataUrl", "metadata"]), { message: "needs exactly one of metadataUrl or metadata" })
        .optional()
        .describe(
          "SAML login, managed by env like n8n.sso.oidc (Enterprise licence); n8n enables one SSO protocol at a time",
        ),
    }),
    securityPolicy: section({
      managedByEnv: bool
        .default(false)
        .describe(
          "N8N_SECURITY_POLICY_MANAGED_BY_ENV: main writes the three settings below at every start (the UI's changes are overwritten)",
        ),
      mfaEnforced: bool
        .default(false)
        .describe("N8N_MFA_ENFORCED_ENABLED: every user needs MFA (Enterprise licence; n8n stores false without it)"),
      personalSpacePublishing: bool.default(true).describe("N8N_PERSONAL_SPACE_PUBLISHING_ENABLED"),
      personalSpaceSharing: bool.default(true).describe("N8N_PERSONAL_SPACE_SHARING_ENABLED"),
    }),
    logStreaming: section({
      destinations: keyRef
        .optional()
        .describe(
          "N8N_LOG_STREAMING_DESTINATIONS (managed by env) from a key of an existing Secret holding n8n's JSON list of webhook, syslog or sentry destinations: it may carry tokens",
        ),
    }),
    binaryData: section({
      mode: oneOf(["database", "s3"])
        .default("database")
        .describe(
          "N8N_DEFAULT_BINARY_DATA_MODE: database (n8n's queue-mode default, in PostgreSQL) or s3 (n8n.objectStorage; Enterprise licence)",
        ),
      databaseMaxFileSizeMiB: int(1, 1024)
        .optional()
        .describe(
          "N8N_BINARY_DATA_DATABASE_MAX_FILE_SIZE: the largest file database mode stores, in MiB (n8n's 512 when unset)",
        ),
    }),
    executionData: section({
      mode: oneOf(["database", "s3"])
        .default("database")
        .describe(
          "N8N_EXECUTION_DATA_STORAGE_MODE: database, or s3 (each execution's data as one object in n8n.objectStorage; Enterprise licence)",
        ),
    }),
    objectStorage: section({
      provider: oneOf(["aws", "s3-compatible"])
        .default("aws")
        .describe(
          "aws: a bucket and its IAM made here with the backups' code; s3-compatible: a bucket you run (MinIO, R2, ...)",
        ),
      bucketName: bucketName.optional().describe("the bucket; aws: generated when unset; s3-compatible: required"),
      region: z
        .string({ error: "must be a string" })
        .regex(/^([a-z]{2}(-gov)?-[a-z]+-[0-9]|auto)$/, 'must be an AWS region such as "eu-west-1", or "auto"')
        .optional()
        .describe(
          'N8N_EXTERNAL_STORAGE_S3_BUCKET_REGION; aws: postgres.archive.region when unset; s3-compatible: "auto"',
        ),
      kmsKeyArn: kmsKeyArn.optional().describe("aws: KMS key for SSE-KMS; SSE-S3 when unset"),
      credentials: awsCredentials
        .optional()
        .describe(
          "aws: irsa (a role for the n8n ServiceAccount) or static (an IAM user key); postgres.archive.credentials when unset",
        ),
      oidcProviderArn: oidcProviderArn
        .optional()
        .describe("aws with irsa: the cluster's IAM OIDC provider ARN; postgres.archive.oidcProviderArn when unset"),
      oidcIssuer: oidcIssuer
        .optional()
        .describe("aws with irsa: the OIDC issuer host and path; postgres.archive.oidcIssuer when unset"),
      expireDays: int(1, 3650)
        .optional()
        .describe(
          "aws: days S3 keeps an object (n8n leaves pruning binary data to the bucket's lifecycle); derived from n8n.executions.pruneMaxAgeHours when unset",
        ),
      noncurrentDays: int(1, 365).default(7).describe("aws: days a deleted or overwritten object stays recoverable"),
      retain: bool
        .default(false)
        .describe(
          "keep the storage and n8n's access to it while both modes are database, so n8n still reads what it wrote there (e.g. after switching back)",
        ),
      host: z
        .string({ error: "must be a string" })
        .regex(
          /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?(:[0-9]{1,5})?$/,
          'must be a host name with an optional port, without a scheme, e.g. "minio.storage.svc:9000"',
        )
        .optional()
        .describe("s3-compatible: N8N_EXTERNAL_STORAGE_S3_HOST, host[:port] without the scheme"),
      protocol: oneOf(["https", "http"]).default("https").describe("s3-compatible: N8N_EXTERNAL_STORAGE_S3_PROTOCOL"),
      forcePathStyle: bool
        .default(true)
        .describe("s3-compatible: N8N_EXTERNAL_STORAGE_S3_FORCE_PATH_STYLE (bucket in the path, not the host name)"),
      accessKey: keyRef
        .optional()
        .describe("s3-compatible: N8N_EXTERNAL_STORAGE_S3_ACCESS_KEY from a key of an existing Secret ({name, key})"),
      secretKey: keyRef
        .optional()
        .describe(
          "s3-compatible: N8N_EXTERNAL_STORAGE_S3_ACCESS_SECRET from a key of an existing Secret ({name, key})",
        ),
      cidrs: z
        .array(cidr)
        .min(1, "must list at least one CIDR")
        .optional()
        .describe("s3-compatible: addresses of the storage the n8n pods may reach (NetworkPolicy egress)"),
    }),
    statementTimeoutSeconds: int(1, 86_400)
      .default(300)
      .describe(
        "statement_timeout of the app role, set in PostgreSQL (ALTER ROLE); n8n's own per-query SET is off (DB_POSTGRESDB_STATEMENT_TIMEOUT=0)",
      ),
    gracefulShutdownSeconds: int(5, 3600)
      .default(30)
      .describe(
        "N8N_GRACEFUL_SHUTDOWN_TIMEOUT of main and webhook processors; workers get n8n.executions.maxTimeoutSeconds more",
      ),
    ssrfProtection: bool
      .default(true)
      .describe("N8N_SSRF_PROTECTION_ENABLED: workflow HTTP calls to private addresses are refused"),
    redisTimeoutThresholdSeconds: int(10, 3600)
      .default(300)
      .describe(
        "QUEUE_BULL_REDIS_TIMEOUT_THRESHOLD: every n8n process exits after Redis has been unreachable this long (n8n's own 10 s ends running executions whenever Redis restarts slowly)",
      ),
    queuePrefix: z
      .string({ error: "must be a string" })
      .regex(/^[a-zA-Z0-9_-]{1,32}$/, "must be 1-32 letters, digits, '_' or '-'")
      .default("bull")
      .describe("QUEUE_BULL_PREFIX: Redis key prefix of the queue"),
    executions: section({
      pruneMaxAgeHours: int(1, 24 * 365)
        .default(336)
        .describe("EXECUTIONS_DATA_MAX_AGE in hours"),
      pruneMaxCount: int(0, 10_000_000).default(50_000).describe("EXECUTIONS_DATA_PRUNE_MAX_COUNT (0: no limit)"),
      saveOnSuccess: oneOf(["all", "none"]).default("all").describe("EXECUTIONS_DATA_SAVE_ON_SUCCESS"),
      saveOnError: oneOf(["all", "none"]).default("all").describe("EXECUTIONS_DATA_SAVE_ON_ERROR"),
      saveManual: bool.default(true).describe("EXECUTIONS_DATA_SAVE_MANUAL_EXECUTIONS"),
      timeoutSeconds: int(-1, 86_400).default(3600).describe("EXECUTIONS_TIMEOUT in seconds; -1 disables it"),
      queueRecoveryMinutes: int(1, 1440)
        .default(5)
        .describe(
          "N8N_EXECUTIONS_QUEUE_RECOVERY_INTERVAL of main: how often the leading main marks as crashed the executions PostgreSQL lists as running that no worker holds in the queue, e.g. those a database failover cut off (n8n's default: 180)",
        ),
      maxTimeoutSeconds: int(60, 86_400)
        .default(3600)
        .describe(
          "EXECUTIONS_TIMEOUT_MAX: the longest timeout a workflow may set; a leaving worker drains this long plus n8n.gracefulShutdownSeconds",
        ),
    }),
  }),
  main: section({
    replicas: int(1, 10).default(1).describe("main (editor/API) replicas; more than 1 needs n8n.multiMain"),
    dbPoolSize: int(1, 100).optional().describe("DB_POSTGRESDB_POOL_SIZE of main"),
    ...scheduling,
    ...escapeHatches,
    resources,
  }),
  workers: section({
    ...hpaTargets,
    concurrency: int(1, 100).optional().describe("executions one worker runs at once (--concurrency)"),
    dbPoolSize: int(1, 100)
      .optional()
      .describe("DB_POSTGRESDB_POOL_SIZE of each worker; max(2, ceil(concurrency / 2)) when unset"),
    queueScaling: oneOf(["none", "external-metric", "keda"])
      .default("none")
      .describe("extra scaling signal on queue length: none, an External metric, or a KEDA ScaledObject"),
    queueTargetPerWorker: int(1, 10_000).default(20).describe("waiting jobs per worker the queue scaler aims for"),
    ...scheduling,
    ...escapeHatches,
    resources,
  }),
  webhooks: section({
    enabled: bool.optional().describe("run webhook processors (n8n webhook) behind /webhook/"),
    ...hpaTargets,
    dbPoolSize: int(1, 100).optional().describe("DB_POSTGRESDB_POOL_SIZE of each webhook processor"),
    ...scheduling,
    ...escapeHatches,
    resources,
  }),
  runners: section({
    enabled: bool.default(true).describe("task-runner sidecar on every n8n pod (external mode)"),
    autoShutdownTimeoutSeconds: int(0, 3600)
      .default(15)
      .describe("N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT: idle seconds before a runner exits"),
    maxConcurrency: int(1, 100).default(5).describe("N8N_RUNNERS_MAX_CONCURRENCY"),
    taskTimeoutSeconds: int(1, 86_400).default(300).describe("N8N_RUNNERS_TASK_TIMEOUT in seconds"),
    ...containerEscapeHatches("the task-runner sidecar (every n8n pod)", "the task runner"),
    resources,
  }),
  postgres: section({
    mode: oneOf(["in-cluster", "external"])
      .default("in-cluster")
      .describe(
        "in-cluster: Spilo/Patroni made here; external: a PostgreSQL you run (RDS, Cloud SQL, ...), postgres.external",
      ),
    external: strict({
      host: serverHost.describe("host name (or address) of the server; TLS verifies the certificate against it"),
      port: port.default(5432).describe("port"),
      database: z.string({ error: "must be a string" }).min(1).default("n8n").describe("database n8n owns"),
      user: z
        .string({ error: "must be a string" })
        .min(1)
        .default("n8n")
        .describe("n8n's user; the password comes from secrets.existing.postgresPassword or secrets.externalSecret"),
      sslMode: oneOf(["verify-full", "require", "disable"])
        .default("verify-full")
        .describe(
          "verify-full: TLS, the certificate checked against the CA and the host; require: TLS without checks; disable: plain",
        ),
      ca: caRef
        .optional()
        .describe(
          "CA bundle that signed the server certificate ({secret | configMap, key}); the system roots when unset",
        ),
      cidrs: egressCidrs("the server"),
      maxConnections: int(20, 100_000)
        .optional()
        .describe("the server's max_connections, to check n8n's pools against (unchecked when unset)"),
    })
      .optional()
      .describe("the PostgreSQL n8n uses with postgres.mode external"),
    instances: int(1, 9).optional().describe("Patroni members (1 primary + replicas)"),
    image: z
      .string({ error: "must be a string" })
      .min(1)
      .default("ghcr.io/zalando/spilo-17:4.0-p3")
      .describe("Spilo image (PostgreSQL 17, Patroni, WAL-G)"),
    exporterImage: z
      .string({ error: "must be a string" })
      .min(1)
      .default("quay.io/prometheuscommunity/postgres-exporter:v0.20.1")
      .describe("postgres_exporter sidecar image"),
    storageClass: dnsLabel.optional().describe("StorageClass of the data volumes (cluster default when unset)"),
    storageSize: memory.optional().describe("size of each data volume"),
    allowReplace: allowReplace,
    maxConnections: int(20, 10_000).optional().describe("max_connections; derived from the n8n pool budget when unset"),
    patroni: section({
      ttl: int(10, 600)
        .default(14)
        .describe(
          "leader key TTL; writes resume about ttl after the leader dies (README: PostgreSQL failover timings)",
        ),
      loopWait: int(1, 300).default(4).describe("Patroni loop_wait"),
      retryTimeout: int(1, 300)
        .default(5)
        .describe("Patroni retry_timeout, also its API-server timeout; loopWait + 2 * retryTimeout <= ttl"),
      failsafeMode: bool
        .default(true)
        .describe(
          "Patroni failsafe_mode: while the API server is away or slow, the leader stays primary as long as it reaches every member's REST API (otherwise it demotes itself)",
        ),
      synchronousMode: bool
        .default(false)
        .describe("synchronous replication (no acknowledged commit lost on failover)"),
      synchronousModeStrict: bool
        .default(false)
        .describe("refuse writes when no synchronous standby is available (consistency over availability)"),
      maximumLagOnFailover: int(0, 1024 ** 3)
        .default(1024 ** 2)
        .describe("bytes a replica may lag and still be promoted (Spilo's default is 32 MiB)"),
    }),
    tls: bool.default(true).describe("n8n and the Jobs reach PostgreSQL over TLS"),
    serverCertificate: oneOf(["cert-manager", "spilo"])
      .default("cert-manager")
      .describe(
        "who signs PostgreSQL's certificate: cert-manager, from a CA of the namespace, so n8n and the Jobs verify the server (verify-full); spilo: its own self-signed one (encrypted, not verified)",
      ),
    clientCidrs: z
      .array(cidr)
      .min(1, "must list at least one CIDR")
      .default(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"])
      .describe("pod CIDRs pg_hba admits (scram-sha-256); NetworkPolicies narrow this to the namespace"),
    restore: strict({
      targetTime: z
        .string({ error: "must be a string" })
        .regex(
          /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}(:?\d{2})?|Z)$/,
          'must be a timestamp with a timezone, e.g. "2026-11-23 14:00:00+00:00"',
        )
        .describe("restore point: recover the archive up to this time"),
      fromScope: dnsLabel.optional().describe("Patroni scope of the source cluster; this stack's when unset"),
      fromBucket: bucketName.optional().describe("WAL archive bucket of the source; this stack's when unset"),
      fromRegion: awsRegion.optional().describe("region of the source bucket; postgres.archive.region when unset"),
    })
      .optional()
      .describe("bootstrap a new cluster as a point-in-time clone of a WAL archive"),
    outbox: section({
      enabled: bool
        .default(false)
        .describe("create the integration outbox tables and the reaper CronJob (README: PostgreSQL, Outbox)"),
      reaperSchedule: cron.default("*/5 * * * *").describe("schedule of the reaper and pruning CronJob"),
      stuckMinutes: int(1, 1440).default(15).describe("processing rows older than this go back to pending"),
      doneRetentionDays: int(1, 365).default(14).describe("days done rows are kept"),
      failedRetentionDays: int(1, 365).default(60).describe("days failed rows are kept"),
      pruneBatchSize: int(100, 100_000).default(5000).describe("rows deleted per pruning batch"),
    }),
    parameters: z
      .record(
        z.string().regex(/^[a-z_.]+$/, "must be a PostgreSQL parameter name (lowercase, '_' and '.')"),
        z.union([z.string(), z.number()], { error: "must be a string or number" }).transform(String),
      )
      .default({})
      .describe("extra PostgreSQL parameters, merged over the derived ones"),
    archive: section({
      enabled: bool.default(true).describe("WAL archiving to S3 (point-in-time recovery)"),
      bucketName: bucketName.optional().describe("WAL archive bucket name; generated when unset"),
      region: awsRegion.default("us-east-1").describe("AWS region of the buckets"),
      timeoutSeconds: int(10, 3600)
        .default(60)
        .describe("archive_timeout: bounds the RPO of a quiet database (Spilo's default is 1800)"),
      retentionDays: int(1, 3650).default(14).describe("days WAL and base backups are kept"),
      kmsKeyArn: kmsKeyArn.optional().describe("KMS key for SSE-KMS; SSE-S3 when unset"),
      credentials: awsCredentials
        .default("static")
        .describe("irsa (IAM role for the ServiceAccount, recommended) or static (IAM user key in a Secret)"),
      oidcProviderArn: oidcProviderArn.optional().describe("with irsa: the cluster's IAM OIDC provider ARN"),
      oidcIssuer: oidcIssuer.optional().describe("with irsa: the OIDC issuer host and path, without https://"),
    }),
    backup: section({
      schedule: cron.default("0 1 * * *").describe("base backup schedule (BACKUP_SCHEDULE)"),
      numToRetain: int(1, 365).default(7).describe("base backups kept (BACKUP_NUM_TO_RETAIN)"),
      dump: section({
        enabled: bool.default(true).describe("nightly pg_dump to an Object Lock bucket"),
        schedule: cron.default("30 2 * * *").describe("dump schedule"),
        retentionDays: int(1, 3650).default(30).describe("Object Lock retention of each dump"),
        lockMode: oneOf(["COMPLIANCE", "GOVERNANCE"])
          .default("COMPLIANCE")
          .describe("Object Lock mode: COMPLIANCE (nobody can delete early) or GOVERNANCE"),
        bucketName: bucketName.optional().describe("dump bucket name; generated when unset"),
      }),
    }),
    resources,
  }),
  redis: section({
    mode: oneOf(["in-cluster", "external"])
      .default("in-cluster")
      .describe(
        "in-cluster: Redis with AOF made here; external: a Redis you run (ElastiCache, Memorystore, ...), redis.external",
      ),
    external: strict({
      host: serverHost.describe("host name (or address); with clusterNodes, the first node"),
      port: port.default(6379).describe("port"),
      username: z
        .string({ error: "must be a string" })
        .min(1)
        .optional()
        .describe("ACL user (QUEUE_BULL_REDIS_USERNAME)"),
      tls: bool.default(true).describe("TLS with the certificate verified (QUEUE_BULL_REDIS_TLS)"),
      ca: caRef
        .optional()
        .describe("CA bundle that signed the server certificate (NODE_EXTRA_CA_CERTS); the system roots when unset"),
      clusterNodes: z
        .array(z.string({ error: "must be a string" }).regex(/^[a-z0-9.-]+:[0-9]{1,5}$/, 'must be "host:port"'))
        .default([])
        .describe("Redis Cluster nodes (QUEUE_BULL_REDIS_CLUSTER_NODES); empty for a single endpoint"),
      cidrs: egressCidrs("the Redis nodes"),
    })
      .optional()
      .describe("the Redis n8n uses with redis.mode external"),
    image: z
      .string({ error: "must be a string" })
      .min(1)
      .default("docker.io/library/redis:7.4.6")
      .describe("Redis image"),
    exporterImage: z
      .string({ error: "must be a string" })
      .min(1)
      .default("docker.io/oliver006/redis_exporter:v1.77.0")
      .describe("redis_exporter sidecar image"),
    storageClass: dnsLabel.optional().describe("StorageClass of the AOF volume"),
    storageSize: memory.optional().describe("size of the AOF volume"),
    allowReplace: allowReplace,
    maxmemory: memory.optional().describe("maxmemory; 80 % of the memory limit when unset"),
    resources,
  }),
  edge: section({
    kind: oneOf(["gateway", "ingress", "none"])
      .default("gateway")
      .describe(
        "the public entry: Gateway API HTTPRoutes, Ingress objects (what earlier releases rendered; set it to keep them), or none",
      ),
    keepIngress: bool
      .default(false)
      .describe(
        "with kind gateway: keep the Ingress objects too, so both edges serve while DNS moves (migration runbook)",
      ),
    clusterIssuer: dnsLabel.default("letsencrypt-prod").describe("cert-manager ClusterIssuer for the TLS certificate"),
    createClusterIssuer: bool
      .default(false)
      .describe("also create that ClusterIssuer (ACME HTTP-01 through this edge); needs acmeEmail"),
    acmeEmail: z.email({ error: "must be an e-mail address" }).optional().describe("ACME account e-mail"),
    acmeServer: z.url({ error: "must be a URL" }).default(LETS_ENCRYPT_PRODUCTION).describe("ACME directory URL"),
    allowlistCidrs: z
      .array(cidr)
      .default([])
      .describe("client CIDRs allowed to the editor and API (production endpoints stay open); empty allows everyone"),
    rateLimitRps: int(1, 10_000)
      .optional()
      .describe(
        "requests per second per client IP; 20 where the implementation enforces one (envoy-gateway, ingress-nginx), refused elsewhere",
      ),
    bodySizeMb: int(1, 1024)
      .optional()
      .describe("largest request body in MB (413 above it); 16 where enforced (envoy-gateway, ingress-nginx)"),
    proxyTimeoutSeconds: int(1, 3600)
      .optional()
      .describe(
        "longest a production request may take (Gateway: HTTPRoute timeouts.request; ingress-nginx: read/send timeout); 300 where enforced",
      ),
    gateway: section({
      implementation: oneOf(["envoy-gateway", "generic"])
        .default("envoy-gateway")
        .describe(
          "the Gateway API implementation: envoy-gateway gets its policy objects for the limits; generic renders Core objects only",
        ),
      className: dnsLabel
        .optional()
        .describe("GatewayClass of the program's own Gateway; eg (Envoy Gateway's quickstart class) when unset"),
      parentRef: strict({
        name: dnsLabel.describe("the Gateway's name"),
        namespace: dnsLabel.describe("its namespace"),
        sectionName: dnsLabel
          .optional()
          .describe("its HTTPS listener; every listener whose hostname matches when unset"),
      })
        .optional()
        .describe("a platform team's Gateway to attach the routes to, instead of creating the program's own"),
      certificate: bool
        .default(true)
        .describe(
          "with parentRef: issue a Certificate for the domain into the Secret n8n-tls, and let that Gateway read it (ReferenceGrant)",
        ),
      dataPlane: section({
        namespace: dnsLabel
          .optional()
          .describe(
            "namespace of the Gateway's proxy pods (NetworkPolicies admit them); envoy-gateway: envoy-gateway-system; required for generic",
          ),
        podLabels: z
          .record(z.string(), z.string())
          .optional()
          .describe(
            "labels of those pods; envoy-gateway: its owning-gateway labels; every pod of the namespace when unset",
          ),
      }),
    }),
    ingress: section({
      className: dnsLabel.default("nginx").describe("ingressClassName"),
      controller: oneOf(["ingress-nginx", "other"])
        .default("ingress-nginx")
        .describe(
          "the controller behind that class: ingress-nginx gets its annotations for the limits; other gets none",
        ),
      controllerNamespace: dnsLabel.default("ingress-nginx").describe("namespace of the ingress controller's pods"),
    }),
  }),
  network: section({
    egress: section({
      cidrs: z
        .array(cidr)
        .min(1, "must list at least one CIDR")
        .default(["0.0.0.0/0"])
        .describe("where workflows (n8n pods) may call out to"),
      exceptCidrs: z
        .array(cidr)
        .default(PRIVATE_RANGES)
        .describe("excluded from egress.cidrs: private ranges, so workflows cannot probe the cluster network"),
      ports: z.array(port).min(1, "must list at least one port").default([443, 80]).describe("egress ports"),
    }),
    apiServer: section({
      cidrs: z
        .array(cidr)
        .min(1, "must list at least one CIDR")
        .default(["0.0.0.0/0"])
        .describe("Kubernetes API endpoints Patroni reaches (its DCS); narrow this to the control plane"),
      ports: z.array(port).min(1, "must list at least one port").default([443, 6443]).describe("API server ports"),
    }),
    s3Cidrs: z
      .array(cidr)
      .min(1, "must list at least one CIDR")
      .default(["0.0.0.0/0"])
      .describe("S3 and STS endpoints Postgres, the dump job and (object storage on AWS) n8n reach on 443"),
    prometheusNamespace: dnsLabel.default("monitoring").describe("namespace of Prometheus"),
    kedaNamespace: dnsLabel.default("keda").describe("namespace of the KEDA operator (workers.queueScaling keda)"),
    dns: section({
      namespace: dnsLabel.default("kube-system").describe("namespace of the cluster DNS"),
      podLabels: z
        .record(z.string(), z.string())
        .default({ "k8s-app": "kube-dns" })
        .describe("labels of the cluster DNS pods"),
    }),
  }),
  monitoring: section({
    serviceMonitors: bool.default(true).describe("create ServiceMonitors"),
    prometheusRules: bool.default(true).describe("create the PrometheusRule with the alerts"),
    dashboard: bool.default(true).describe("create the Grafana dashboard ConfigMap"),
    prometheusLabels: z
      .record(z.string(), z.string())
      .default({ release: "kube-prometheus-stack" })
      .describe("labels the Prometheus operator's selectors match"),
    dashboardNamespace: dnsLabel
      .optional()
      .describe("namespace of the dashboard; network.prometheusNamespace when unset"),
    dashboardLabels: z
      .record(z.string(), z.string())
      .default({ grafana_dashboard: "1" })
      .describe("labels Grafana's dashboard sidecar looks for"),
    runbookBaseUrl: z
      .url({ error: "must be a URL" })
      .default("https://github.com/n8n-cluster/n8n-cluster/blob/main/README.md")
      .describe("where alerts' runbook links point (this README, in your fork)"),
    thresholds: section({
      failedExecutionsPerMinute: z
        .number({ error: "must be a number" })
        .positive()
        .default(5)
        .describe("failed executions per minute (R4: 5)"),
      queueWaiting: int(1, 1_000_000).default(100).describe("jobs waiting in the queue (R4: 100)"),
      memoryPercentOfLimit: int(1, 100).default(80).describe("container memory, % of its limit (R4: 80)"),
      apiP95Seconds: z
        .number({ error: "must be a number" })
        .positive()
        .default(0.5)
        .describe("API p95 latency in seconds (R4: 0.5)"),
      replicationLagSeconds: int(1, 86_400).default(30).describe("replica replay lag"),
      archiveAgeSeconds: int(60, 86_400)
        .default(600)
        .describe("seconds since the last archived WAL segment before archiving counts as stale"),
      redisMemoryPercent: int(1, 100).default(90).describe("Redis memory, % of maxmemory"),
      podRestarts: int(1, 1000).default(3).describe("container restarts in 15 minutes"),
      workersAtMaxMinutes: int(1, 1440).default(15).describe("minutes workers may sit at the HPA maximum"),
      outboxOldestPendingSeconds: int(1, 86_400).default(300).describe("oldest pending outbox row (R6: 5 minutes)"),
      outboxBacklog: int(1, 10_000_000).default(1000).describe("pending outbox rows for 10 minutes (R6: 1000)"),
    }),
  }),
  secrets: section({
    existing: section(
      Object.fromEntries(
        EXTERNAL_VALUE_NAMES.map((v) => [
          v,
          keyRef
            .optional()
            .describe(
              `${EXTERNAL_VALUE_TEXT[v]} from a key of a Secret that already exists in the namespace ({name, key}); the program then neither generates nor stores it`,
            ),
        ]),
      ) as Record<(typeof EXTERNAL_VALUE_NAMES)[number], z.ZodOptional<typeof keyRef>>,
    ),
    externalSecret: strict({
      storeName: dnsLabel.describe("the SecretStore or ClusterSecretStore the External Secrets Operator reads from"),
      storeKind: oneOf(["ClusterSecretStore", "SecretStore"])
        .default("ClusterSecretStore")
        .describe("kind of that store"),
      refreshInterval: z
        .string({ error: "must be a string" })
        .regex(/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/, 'must be a Go duration such as "1h" or "15m"')
        .default("1h")
        .describe("how often the operator copies the values again (pods read them at start only)"),
      remoteRefs: strict(
        Object.fromEntries(
          [...EXTERNAL_VALUE_NAMES, "license"].map((v) => [
            v,
            remoteRef.optional().describe(`where the store keeps ${EXTERNAL_VALUE_TEXT[v]} ({key, property})`),
          ]),
        ) as Record<(typeof EXTERNAL_VALUE_NAMES)[number] | "license", z.ZodOptional<typeof remoteRef>>,
      ).refine((refs) => Object.values(refs).some((r) => r !== undefined), {
        message: `must name at least one of ${[...EXTERNAL_VALUE_NAMES, "license"].join(", ")}`,
      }),
    })
      .optional()
      .describe(
        `an External Secrets Operator ExternalSecret (external-secrets.io/v1) that writes the Secret ${EXTERNAL_SECRET.name} from your secret store`,
      ),
  }),
  kubernetes: section({
    kubeconfig: z.string().min(1).optional().describe("path to, or contents of, a kubeconfig; ambient one when unset"),
    context: z.string().min(1).optional().describe("kubeconfig context"),
    renderDirectory: z
      .string()
      .min(1)
      .optional()
      .describe("write YAML to this directory instead of applying it (renderYamlToDirectory)"),
  }),
});

export type ParsedConfig = z.output<typeof stackConfigSchema>;

/** Config keys that must be set with `pulumi config set --secret`; never part of the parsed object. */
export const SECRET_KEYS = ["encryptionKey"] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];
/** n8n needs a long random key; 32 characters is the floor its docs use for generated keys. */
export const MIN_ENCRYPTION_KEY_LENGTH = 32;
