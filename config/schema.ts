/**
 * The zod schema of a stack's configuration (the `n8n-cluster:` keys of Pulumi.<stack>.yaml).
 * Every object is strict, so a typo is an error that names the key and lists the allowed ones.
 * Workload sizes are optional here: what a stack leaves out comes from its size preset (presets.ts),
 * resolved in resolve.ts. Error texts say what is allowed; errors.ts adds the key path and value.
 */
import { z } from "zod";
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
const hostname = z
  .string({ error: "must be a string" })
  .regex(HOSTNAME, "must be a lowercase DNS name with at least one dot, e.g. n8n.example.com");
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
  requests: section({ cpu: cpu.optional(), memory: memory.optional() }),
  limits: section({ cpu: cpu.optional(), memory: memory.optional() }),
});

const hpaTargets = {
  minReplicas: int(1, 100).optional(),
  maxReplicas: int(1, 200).optional(),
  /** Average CPU utilisation (percent of requests) the HPA aims for. R1: "autoscale 2–10, CPU 80 %". */
  targetCPUUtilizationPercentage: int(10, 100).default(80),
  targetMemoryUtilizationPercentage: int(10, 100).default(80),
  /** Seconds the HPA waits before scaling down; long, so busy pods are not removed in bursts. */
  scaleDownStabilizationSeconds: int(0, 3600).default(600),
};

export const PRIVATE_RANGES = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "169.254.0.0/16",
  "100.64.0.0/10",
  "127.0.0.0/8",
];

export const LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory";

export const stackConfigSchema = strict({
  /** Namespace the whole cluster lives in (created by the program). */
  namespace: dnsLabel.default("n8n"),
  /** Public DNS name of the editor, API and webhooks. */
  domain: hostname,
  /** Marks a production stack: HA rules apply (see rules.ts) and policies treat it as production. */
  production: bool.default(false),
  /** Size preset; explicit workload keys override it. */
  size: oneOf(["small", "medium", "large"]).default("small"),
  n8n: section({
    /** n8n release for both n8nio/n8n and n8nio/runners (the facts in ARCHITECTURE §3 are for 2.x). */
    version: z
      .string({ error: "must be a string" })
      .regex(SEMVER, 'must be an exact n8n 2.x release such as "2.40.7"')
      .default("2.40.7"),
    image: z.string({ error: "must be a string" }).min(1).default("docker.io/n8nio/n8n"),
    runnersImage: z.string({ error: "must be a string" }).min(1).default("docker.io/n8nio/runners"),
    timezone: z.string({ error: "must be a string" }).min(1).default("UTC"),
    logLevel: oneOf(["error", "warn", "info", "debug"]).default("info"),
    logFormat: oneOf(["text", "json"]).default("json"),
    /** Several mains need n8n's Enterprise multi-main licence; without it two mains double-fire schedules. */
    multiMain: bool.default(false),
    /** Seconds n8n waits for running executions on SIGTERM (N8N_GRACEFUL_SHUTDOWN_TIMEOUT). */
    gracefulShutdownSeconds: int(5, 3600).default(30),
    /** Redis key prefix of the Bull queue (QUEUE_BULL_PREFIX). */
    queuePrefix: z
      .string({ error: "must be a string" })
      .regex(/^[a-zA-Z0-9_-]{1,32}$/, "must be 1-32 letters, digits, '_' or '-'")
      .default("bull"),
    executions: section({
      pruneMaxAgeHours: int(1, 24 * 365).default(336),
      pruneMaxCount: int(0, 10_000_000).default(50_000),
      saveOnSuccess: oneOf(["all", "none"]).default("all"),
      saveOnError: oneOf(["all", "none"]).default("all"),
      saveManual: bool.default(true),
      /** Per-execution timeout in seconds; -1 disables it. */
      timeoutSeconds: int(-1, 86_400).default(3600),
    }),
  }),
  main: section({
    replicas: int(1, 10).default(1),
    dbPoolSize: int(1, 100).optional(),
    resources,
  }),
  workers: section({
    ...hpaTargets,
    concurrency: int(1, 100).optional(),
    dbPoolSize: int(1, 100).optional(),
    /** Extra autoscaling signal: none (CPU/memory only), an External metric, or a KEDA ScaledObject. */
    queueScaling: oneOf(["none", "external-metric", "keda"]).default("none"),
    /** Waiting jobs per worker the queue-length scaler aims for. */
    queueTargetPerWorker: int(1, 10_000).default(20),
    resources,
  }),
  webhooks: section({
    enabled: bool.optional(),
    ...hpaTargets,
    dbPoolSize: int(1, 100).optional(),
    resources,
  }),
  runners: section({
    enabled: bool.default(true),
    /** Seconds an idle runner process waits before it exits (N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT). */
    autoShutdownTimeoutSeconds: int(0, 3600).default(15),
    maxConcurrency: int(1, 100).default(5),
    /** Seconds a Code node task may run (N8N_RUNNERS_TASK_TIMEOUT). */
    taskTimeoutSeconds: int(1, 86_400).default(300),
    resources,
  }),
  postgres: section({
    instances: int(1, 9).optional(),
    image: z.string({ error: "must be a string" }).min(1).default("ghcr.io/zalando/spilo-17:4.0-p3"),
    storageClass: dnsLabel.optional(),
    storageSize: memory.optional(),
    /** Overrides the max_connections derived from the n8n connection budget. */
    maxConnections: int(20, 10_000).optional(),
    patroni: section({
      ttl: int(10, 600).default(30),
      loopWait: int(1, 300).default(10),
      retryTimeout: int(1, 300).default(10),
      synchronousMode: bool.default(false),
    }),
    /** Extra PostgreSQL parameters, merged over the derived ones. */
    parameters: z
      .record(
        z.string().regex(/^[a-z_.]+$/, "must be a PostgreSQL parameter name (lowercase, '_' and '.')"),
        z.union([z.string(), z.number()], { error: "must be a string or number" }).transform(String),
      )
      .default({}),
    archive: section({
      enabled: bool.default(true),
      /** Name of the WAL archive bucket; generated from the stack when unset. */
      bucketName: z.string().regex(BUCKET, "must be a valid S3 bucket name").optional(),
      region: z.string().regex(AWS_REGION, 'must be an AWS region such as "eu-west-1"').default("us-east-1"),
      /** archive_timeout: Spilo's default is 1800 s; 60 s bounds the RPO of a quiet database. */
      timeoutSeconds: int(10, 3600).default(60),
      retentionDays: int(1, 3650).default(14),
      kmsKeyArn: z.string().regex(ARN, "must be a KMS key ARN").optional(),
      credentials: oneOf(["irsa", "static"]).default("static"),
      /** With credentials "irsa": the cluster's OIDC provider ARN and issuer URL (no https://). */
      oidcProviderArn: z.string().regex(ARN, "must be an IAM OIDC provider ARN").optional(),
      oidcIssuer: z
        .string()
        .regex(/^[a-z0-9.-]+(\/[A-Za-z0-9._-]+)*$/, "must be the issuer host and path without https://")
        .optional(),
    }),
    backup: section({
      /** Base backup schedule (BACKUP_SCHEDULE). */
      schedule: cron.default("0 1 * * *"),
      numToRetain: int(1, 365).default(7),
      dump: section({
        enabled: bool.default(true),
        schedule: cron.default("30 2 * * *"),
        retentionDays: int(1, 3650).default(30),
        bucketName: z.string().regex(BUCKET, "must be a valid S3 bucket name").optional(),
      }),
    }),
    resources,
  }),
  redis: section({
    image: z.string({ error: "must be a string" }).min(1).default("docker.io/library/redis:7.4.6"),
    storageClass: dnsLabel.optional(),
    storageSize: memory.optional(),
    /** maxmemory; defaults to 80 % of the memory limit. */
    maxmemory: memory.optional(),
    resources,
  }),
  ingress: section({
    enabled: bool.default(true),
    className: dnsLabel.default("nginx"),
    clusterIssuer: dnsLabel.default("letsencrypt-prod"),
    /** Create the ClusterIssuer (ACME HTTP-01) too; needs acmeEmail. */
    createClusterIssuer: bool.default(false),
    acmeEmail: z.email({ error: "must be an e-mail address" }).optional(),
    acmeServer: z.url({ error: "must be a URL" }).default(LETS_ENCRYPT_PRODUCTION),
    /** Requests per second per client IP (ingress-nginx limit-rps). */
    rateLimitRps: int(1, 10_000).default(20),
    bodySizeMb: int(1, 1024).default(16),
    proxyTimeoutSeconds: int(1, 3600).default(300),
    /** Client CIDRs allowed to reach the editor; empty means everyone. */
    allowlistCidrs: z.array(cidr).default([]),
  }),
  network: section({
    egress: section({
      /** Where workflows may call out to. */
      cidrs: z.array(cidr).min(1, "must list at least one CIDR").default(["0.0.0.0/0"]),
      /** Excluded from `cidrs`: private ranges by default, so workflows cannot probe the cluster network. */
      exceptCidrs: z.array(cidr).default(PRIVATE_RANGES),
      ports: z.array(port).min(1, "must list at least one port").default([443, 80]),
    }),
    apiServer: section({
      cidrs: z.array(cidr).min(1, "must list at least one CIDR").default(["0.0.0.0/0"]),
      ports: z.array(port).min(1, "must list at least one port").default([443, 6443]),
    }),
    /** S3 endpoints Postgres may reach on 443 for WAL archiving. */
    s3Cidrs: z.array(cidr).min(1, "must list at least one CIDR").default(["0.0.0.0/0"]),
    ingressControllerNamespace: dnsLabel.default("ingress-nginx"),
    prometheusNamespace: dnsLabel.default("monitoring"),
  }),
  monitoring: section({
    serviceMonitors: bool.default(true),
    prometheusRules: bool.default(true),
    dashboard: bool.default(true),
    /** Labels the Prometheus operator's serviceMonitorSelector / ruleSelector match. */
    prometheusLabels: z.record(z.string(), z.string()).default({ release: "kube-prometheus-stack" }),
    /** Namespace of the Grafana dashboard sidecar; defaults to network.prometheusNamespace. */
    dashboardNamespace: dnsLabel.optional(),
  }),
  kubernetes: section({
    /** Path to, or contents of, a kubeconfig; unset uses the ambient one (KUBECONFIG). */
    kubeconfig: z.string().min(1).optional(),
    context: z.string().min(1).optional(),
    /** Write manifests to this directory instead of applying them (renderYamlToDirectory). */
    renderDirectory: z.string().min(1).optional(),
  }),
});

export type ParsedConfig = z.output<typeof stackConfigSchema>;

/** Config keys that must be set with `pulumi config set --secret`; never part of the parsed object. */
export const SECRET_KEYS = ["encryptionKey"] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];
/** n8n needs a long random key; 32 characters is the floor its docs use for generated keys. */
export const MIN_ENCRYPTION_KEY_LENGTH = 32;
