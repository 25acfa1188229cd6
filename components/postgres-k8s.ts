/**
 * Pure spec builders for the Patroni/Spilo cluster on Kubernetes: RBAC for the Kubernetes DCS,
 * Services (primary, replicas, headless), the StatefulSet, its PDB, and the Jobs around it.
 */
import { createHash } from "node:crypto";
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { memoryBytes, toMebibytes } from "../config/quantity";
import {
  staticKeyEnv,
  WALG_FILES,
  walgAwsConfig,
  walgJson,
  webIdentityEnv,
  webIdentityTokenMount,
  webIdentityTokenVolume,
} from "./aws-identity";
import { type ComponentName, labelContext, labels, selectorLabels } from "./labels";
import { APP_DATABASE, AWS_KEYS_SECRET, DB_USERS, NAMES, PORTS, SERVICE_LABEL, secretKeyRef } from "./names";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext, volumeClaimTemplate } from "./pod-security";
import {
  type ArchiveTarget,
  DUMP_PREFIX,
  dcsConfiguration,
  LEADER_ROLE,
  PATRONI_FILES,
  REPLICA_ROLE,
  RESTAPI_USER,
  ROLE_LABEL,
  SCOPE_LABEL,
  spiloEnv,
} from "./postgres-spilo";
import {
  applyDcsScript,
  appUserSql,
  dumpScript,
  monitoringUserSql,
  outboxExporterQueries,
  outboxReaperSql,
  outboxSchemaSql,
} from "./postgres-sql";

/** uid and gid of user postgres in the Spilo image. */
export const SPILO_UID = 101;
export const SPILO_GID = 103;

/** The pod labels every Spilo member carries; Patroni adds the role label itself. */
export function postgresPodLabels(config: StackConfig) {
  return { ...selectorLabels(labelContext(config), "postgres"), [SCOPE_LABEL]: NAMES.postgres };
}

function meta(config: StackConfig, name: string, namespace: Input<string>) {
  return { name, namespace, labels: { ...labels(labelContext(config), "postgres"), [SCOPE_LABEL]: NAMES.postgres } };
}

/**
 * The Spilo container: restricted in everything Pod Security "restricted" checks. The root
 * filesystem stays writable: Spilo's launch script rewrites /etc/passwd for its uid and keeps
 * runit state under the image tree (postgres-operator runs it the same way).
 */
export function spiloSecurityContext() {
  return { ...restrictedContainerSecurityContext(), readOnlyRootFilesystem: false };
}

/**
 * A ServiceAccount. With IRSA it carries no `eks.amazonaws.com/role-arn` annotation on purpose: the
 * pods project their web identity token themselves, and the EKS webhook must not add AWS_ROLE_ARN
 * to the Spilo container (aws-identity.ts says why).
 */
function serviceAccount(config: StackConfig, name: string, namespace: Input<string>, automountToken: boolean) {
  return { metadata: meta(config, name, namespace), automountServiceAccountToken: automountToken };
}

export function postgresServiceAccount(config: StackConfig, namespace: Input<string>) {
  // Patroni talks to the Kubernetes API (its DCS): this pod needs its token.
  return serviceAccount(config, NAMES.postgresServiceAccount, namespace, true);
}

/** WAL-G's web identity files (IRSA only): `~/.walg.json` and the AWS shared config it names. */
export function walgAwsConfigMap(config: StackConfig, namespace: Input<string>, awsConfig: Input<string>) {
  return {
    metadata: meta(config, NAMES.postgresWalg, namespace),
    data: { "walg.json": walgJson(), config: awsConfig },
  };
}

/** The AWS shared config of WAL-G for a role (walgAwsConfig with this cluster's session name). */
export function walgAwsConfigFor(roleArn: string): string {
  return walgAwsConfig(roleArn, NAMES.postgres);
}

/** What Patroni's Kubernetes DCS needs in its own namespace, and nothing cluster-wide. */
export function postgresRole(config: StackConfig, namespace: Input<string>) {
  return {
    metadata: meta(config, NAMES.postgresServiceAccount, namespace),
    rules: [
      {
        apiGroups: [""],
        resources: ["configmaps"],
        verbs: ["create", "get", "list", "patch", "update", "watch", "delete", "deletecollection"],
      },
      {
        apiGroups: [""],
        resources: ["endpoints"],
        verbs: ["create", "get", "list", "patch", "update", "watch", "delete", "deletecollection"],
      },
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "patch", "update", "watch"] },
      { apiGroups: [""], resources: ["services"], verbs: ["create"] },
    ],
  };
}

export function postgresRoleBinding(config: StackConfig, namespace: Input<string>) {
  return {
    metadata: meta(config, NAMES.postgresServiceAccount, namespace),
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: NAMES.postgresServiceAccount },
    subjects: [{ kind: "ServiceAccount", name: NAMES.postgresServiceAccount, namespace }],
  };
}

const pgPort = { name: "postgresql", port: PORTS.postgres, targetPort: "postgresql", protocol: "TCP" };
const patroniPort = { name: "patroni", port: PORTS.patroni, targetPort: "patroni", protocol: "TCP" };
const exporterPort = { name: "exporter", port: PORTS.postgresExporter, targetPort: "exporter", protocol: "TCP" };

function serviceMeta(config: StackConfig, name: string, namespace: Input<string>) {
  const m = meta(config, name, namespace);
  return { ...m, labels: { ...m.labels, [SERVICE_LABEL]: name } };
}

/** Primary (read-write), replicas (read-only) and the headless governing Service (also every member's metrics). */
export function postgresServices(config: StackConfig, namespace: Input<string>) {
  const pods = postgresPodLabels(config);
  return {
    primary: {
      metadata: serviceMeta(config, NAMES.postgres, namespace),
      spec: { type: "ClusterIP", selector: { ...pods, [ROLE_LABEL]: LEADER_ROLE }, ports: [pgPort] },
    },
    replicas: {
      metadata: serviceMeta(config, NAMES.postgresReplicas, namespace),
      spec: { type: "ClusterIP", selector: { ...pods, [ROLE_LABEL]: REPLICA_ROLE }, ports: [pgPort] },
    },
    headless: {
      metadata: serviceMeta(config, NAMES.postgresHeadless, namespace),
      spec: {
        clusterIP: "None",
        // Members must find each other before they are ready (a new replica clones from the leader).
        publishNotReadyAddresses: true,
        selector: pods,
        ports: [pgPort, patroniPort, exporterPort],
      },
    },
  };
}

/** Where the exporter finds its custom (outbox) queries. */
const EXPORTER_QUERIES = "/etc/postgres-exporter";

/**
 * postgres_exporter beside each member, over loopback as the pg_monitor role; with the outbox on,
 * also its custom queries. The image runs as nobody (65534).
 */
export function postgresExporterContainer(config: StackConfig) {
  const outbox = config.postgres.outbox.enabled;
  return {
    name: "exporter",
    image: config.postgres.exporterImage,
    imagePullPolicy: "IfNotPresent",
    env: [
      { name: "DATA_SOURCE_URI", value: `127.0.0.1:${PORTS.postgres}/${APP_DATABASE}?sslmode=disable` },
      { name: "DATA_SOURCE_USER", value: DB_USERS.monitoring },
      { name: "DATA_SOURCE_PASS", valueFrom: secretKeyRef("postgres", "monitoringPassword") },
      ...(outbox
        ? [{ name: "PG_EXPORTER_EXTEND_QUERY_PATH", value: `${EXPORTER_QUERIES}/exporter-queries.yaml` }]
        : []),
    ],
    ports: [{ name: "exporter", containerPort: PORTS.postgresExporter }],
    livenessProbe: { httpGet: { path: "/", port: "exporter" }, periodSeconds: 30, timeoutSeconds: 5 },
    readinessProbe: { httpGet: { path: "/", port: "exporter" }, periodSeconds: 15, timeoutSeconds: 5 },
    resources: { requests: { cpu: "20m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
    securityContext: { ...restrictedContainerSecurityContext(), runAsUser: 65534, runAsGroup: 65534 },
    volumeMounts: outbox ? [{ name: "exporter-queries", mountPath: EXPORTER_QUERIES, readOnly: true }] : [],
  };
}

/** The Spilo container: Patroni and PostgreSQL, probed through Patroni's REST API. */
export function spiloContainer<S extends Input<string>>(config: StackConfig, target: ArchiveTarget<S> | undefined) {
  const p = config.postgres;
  return {
    name: "postgres",
    image: p.image,
    imagePullPolicy: "IfNotPresent",
    env: spiloEnv(config, target),
    ports: [
      { name: "postgresql", containerPort: PORTS.postgres },
      { name: "patroni", containerPort: PORTS.patroni },
    ],
    // Bootstrapping or cloning from the archive can take long: an hour before liveness applies.
    startupProbe: {
      httpGet: { path: "/liveness", port: "patroni" },
      periodSeconds: 10,
      failureThreshold: 360,
    },
    livenessProbe: {
      httpGet: { path: "/liveness", port: "patroni" },
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 6,
    },
    readinessProbe: {
      httpGet: { path: "/readiness", port: "patroni" },
      periodSeconds: 5,
      timeoutSeconds: 5,
      failureThreshold: 3,
    },
    resources: { requests: { ...p.resources.requests }, limits: { ...p.resources.limits } },
    securityContext: spiloSecurityContext(),
    volumeMounts: [
      { name: "pgdata", mountPath: "/home/postgres/pgdata" },
      { name: "dshm", mountPath: "/dev/shm" },
      ...(target?.roleArn ? walgIdentityMounts() : []),
    ],
  };
}

const WALG_VOLUME = "walg-aws";

function walgIdentityMounts() {
  return [
    webIdentityTokenMount(),
    { name: WALG_VOLUME, mountPath: WALG_FILES.walgJson, subPath: "walg.json", readOnly: true },
    { name: WALG_VOLUME, mountPath: WALG_FILES.awsConfigDir, readOnly: true },
  ];
}

function walgIdentityVolumes() {
  return [
    webIdentityTokenVolume(),
    {
      name: WALG_VOLUME,
      configMap: {
        name: NAMES.postgresWalg,
        items: [
          { key: "walg.json", path: "walg.json" },
          { key: "config", path: "config" },
        ],
      },
    },
  ];
}

/** /dev/shm for parallel query workers: a quarter of the memory limit, at least 256 Mi. */
export function shmSize(config: StackConfig): string {
  return `${Math.max(256, Math.floor(toMebibytes(memoryBytes(config.postgres.resources.limits.memory)) / 4))}Mi`;
}

export function postgresStatefulSet<S extends Input<string>>(
  config: StackConfig,
  namespace: Input<string>,
  target: ArchiveTarget<S> | undefined,
) {
  const p = config.postgres;
  const pods = postgresPodLabels(config);
  const onePerNode = { labelSelector: { matchLabels: pods }, topologyKey: "kubernetes.io/hostname" };
  // Production refuses two members on one node; elsewhere it is only preferred, so a one-node
  // staging cluster still schedules.
  const affinity = config.production
    ? { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [onePerNode] } }
    : {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: onePerNode }],
        },
      };
  return {
    metadata: meta(config, NAMES.postgres, namespace),
    spec: {
      serviceName: NAMES.postgresHeadless,
      replicas: p.instances,
      // Patroni elects the leader; members need not start one by one.
      podManagementPolicy: "Parallel",
      updateStrategy: { type: "RollingUpdate" },
      selector: { matchLabels: pods },
      template: {
        metadata: { labels: { ...labels(labelContext(config), "postgres"), [SCOPE_LABEL]: NAMES.postgres } },
        spec: {
          serviceAccountName: NAMES.postgresServiceAccount,
          securityContext: restrictedPodSecurityContext(SPILO_UID, SPILO_GID),
          // Patroni demotes cleanly and hands over leadership on SIGTERM; give PostgreSQL time to stop.
          terminationGracePeriodSeconds: 120,
          enableServiceLinks: false,
          affinity,
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: "topology.kubernetes.io/zone",
              whenUnsatisfiable: "ScheduleAnyway",
              labelSelector: { matchLabels: pods },
            },
          ],
          containers: [spiloContainer(config, target), postgresExporterContainer(config)],
          volumes: [
            { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: shmSize(config) } },
            ...(target?.roleArn ? walgIdentityVolumes() : []),
            ...(p.outbox.enabled
              ? [
                  {
                    name: "exporter-queries",
                    configMap: {
                      name: NAMES.postgresBootstrap,
                      items: [{ key: "exporter-queries.yaml", path: "exporter-queries.yaml" }],
                    },
                  },
                ]
              : []),
          ],
        },
      },
      volumeClaimTemplates: [volumeClaimTemplate("pgdata", pods, p.storageSize, p.storageClass)],
    },
  };
}

/** At most one member down by choice; with one instance the drain must wait for nobody. */
export function postgresPdb(config: StackConfig, namespace: Input<string>) {
  return {
    metadata: meta(config, NAMES.postgres, namespace),
    spec: { maxUnavailable: 1, selector: { matchLabels: postgresPodLabels(config) } },
  };
}

/** The superuser connection env of a Job that talks to the primary (over TLS). */
export function superuserConnectionEnv(config: StackConfig) {
  return [
    { name: "PGHOST", value: NAMES.postgres },
    { name: "PGPORT", value: String(PORTS.postgres) },
    { name: "PGUSER", value: DB_USERS.superuser },
    { name: "PGPASSWORD", valueFrom: secretKeyRef("postgres", "superuserPassword") },
    { name: "PGDATABASE", value: "postgres" },
    { name: "PGSSLMODE", value: config.postgres.tls ? "require" : "prefer" },
    { name: "PGCONNECT_TIMEOUT", value: "10" },
  ];
}

/** What differs between the short-lived containers of the Jobs. */
interface JobContainer {
  name: string;
  command: string[];
  env: k8s.types.input.core.v1.EnvVar[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}

type Volume =
  | { name: string; configMap?: { name: string }; emptyDir?: { sizeLimit: string } }
  | ReturnType<typeof webIdentityTokenVolume>;

/** A restricted pod spec for short-lived Spilo-image containers (psql, pg_dump). */
export function jobPodSpec(config: StackConfig, container: JobContainer, volumes: Volume[] = []) {
  return {
    restartPolicy: "Never",
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: restrictedPodSecurityContext(SPILO_UID, SPILO_GID),
    containers: [
      {
        image: config.postgres.image,
        imagePullPolicy: "IfNotPresent",
        resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
        securityContext: restrictedContainerSecurityContext(),
        ...container,
      },
    ],
    volumes: [{ name: "tmp", emptyDir: { sizeLimit: "1Gi" } }, ...volumes],
  };
}

/** Files the Jobs run: SQL scripts and the dump uploader. */
export function bootstrapConfigMap(config: StackConfig, namespace: Input<string>) {
  const { outbox, backup } = config.postgres;
  return {
    metadata: meta(config, NAMES.postgresBootstrap, namespace),
    data: {
      "app-user.sql": appUserSql(),
      "monitoring.sql": monitoringUserSql(),
      ...(outbox.enabled
        ? {
            "outbox.sql": outboxSchemaSql(),
            "outbox-reaper.sql": outboxReaperSql(config),
            "exporter-queries.yaml": outboxExporterQueries(config),
          }
        : {}),
      ...(backup.dump.enabled ? { "dump.py": dumpScript() } : {}),
    },
  };
}

const sqlVolume = { name: "sql", configMap: { name: NAMES.postgresBootstrap } };
const jobMounts = [
  { name: "sql", mountPath: "/sql", readOnly: true },
  { name: "tmp", mountPath: "/tmp" },
];

function appEnv() {
  return [
    { name: "APP_USER", value: DB_USERS.app },
    { name: "APP_DATABASE", value: APP_DATABASE },
  ];
}

/** Connection env of the app role (least privilege) against a Service. */
function appConnectionEnv(config: StackConfig, host: string) {
  return [
    { name: "PGHOST", value: host },
    { name: "PGPORT", value: String(PORTS.postgres) },
    { name: "PGUSER", value: DB_USERS.app },
    { name: "PGPASSWORD", valueFrom: secretKeyRef("postgres", "appPassword") },
    { name: "PGDATABASE", value: APP_DATABASE },
    { name: "PGSSLMODE", value: config.postgres.tls ? "require" : "prefer" },
    { name: "HOME", value: "/tmp" },
  ];
}

/** Patroni's dynamic configuration (read by Spilo at creation, applied by the Job later) and the Job's script. */
export function patroniConfigMap(config: StackConfig, namespace: Input<string>) {
  return {
    metadata: meta(config, NAMES.postgresPatroni, namespace),
    data: {
      [PATRONI_FILES.dcs]: `${JSON.stringify(dcsConfiguration(config))}\n`,
      [PATRONI_FILES.apply]: applyDcsScript(),
    },
  };
}

/**
 * Applies the dynamic configuration to the running cluster. Its pod template carries a digest of the
 * configuration, so Pulumi replaces (re-runs) the Job exactly when the configuration changes.
 */
export function patroniConfigJob(config: StackConfig, namespace: Input<string>) {
  const digest = createHash("sha256")
    .update(JSON.stringify(dcsConfiguration(config)))
    .digest("hex");
  return {
    metadata: meta(config, NAMES.postgresPatroniConfig, namespace),
    spec: {
      backoffLimit: 3,
      activeDeadlineSeconds: 1800,
      template: {
        metadata: {
          labels: labels(labelContext(config), "postgres-config"),
          annotations: { "n8n-cluster/dcs-sha256": digest },
        },
        spec: jobPodSpec(
          config,
          {
            name: "patroni-config",
            command: ["python3", `/patroni/${PATRONI_FILES.apply}`],
            env: [
              // Any member takes PATCH /config: the headless Service lists them all, ready or not.
              { name: "PATRONI_URL", value: `http://${NAMES.postgresHeadless}:${PORTS.patroni}` },
              { name: "DCS_FILE", value: `/patroni/${PATRONI_FILES.dcs}` },
              { name: "RESTAPI_USER", value: RESTAPI_USER },
              { name: "RESTAPI_PASSWORD", valueFrom: secretKeyRef("postgres", "patroniApiPassword") },
            ],
            volumeMounts: [
              { name: "patroni", mountPath: "/patroni", readOnly: true },
              { name: "tmp", mountPath: "/tmp" },
            ],
          },
          [{ name: "patroni", configMap: { name: NAMES.postgresPatroni } }],
        ),
      },
    },
  };
}

/** Idempotent Job: create the app role and database (and the outbox), once the primary answers. */
export function bootstrapJob(config: StackConfig, namespace: Input<string>) {
  const steps = [
    "until pg_isready --quiet; do echo 'waiting for the primary'; sleep 5; done",
    "psql --no-psqlrc --file=/sql/app-user.sql",
    "psql --no-psqlrc --file=/sql/monitoring.sql",
    ...(config.postgres.outbox.enabled ? ["psql --no-psqlrc --file=/sql/outbox.sql"] : []),
  ];
  return {
    metadata: meta(config, NAMES.postgresBootstrap, namespace),
    spec: {
      backoffLimit: 10,
      activeDeadlineSeconds: 1800,
      template: {
        metadata: { labels: labels(labelContext(config), "postgres-bootstrap") },
        spec: jobPodSpec(
          config,
          {
            name: "bootstrap",
            command: ["/bin/sh", "-ec", steps.join("\n")],
            env: [
              ...superuserConnectionEnv(config),
              ...appEnv(),
              { name: "APP_PASSWORD", valueFrom: secretKeyRef("postgres", "appPassword") },
              { name: "APP_STATEMENT_TIMEOUT", value: `${config.n8n.statementTimeoutSeconds}s` },
              { name: "MONITORING_USER", value: DB_USERS.monitoring },
              { name: "MONITORING_PASSWORD", valueFrom: secretKeyRef("postgres", "monitoringPassword") },
              { name: "HOME", value: "/tmp" },
            ],
            volumeMounts: jobMounts,
          },
          [sqlVolume],
        ),
      },
    },
  };
}

type JobPodSpec = ReturnType<typeof jobPodSpec> & { serviceAccountName?: string };

function cronJob(
  config: StackConfig,
  namespace: Input<string>,
  name: string,
  component: ComponentName,
  schedule: string,
  pod: JobPodSpec,
) {
  return {
    metadata: meta(config, name, namespace),
    spec: {
      schedule,
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        spec: {
          backoffLimit: 2,
          activeDeadlineSeconds: 6 * 3600,
          template: { metadata: { labels: labels(labelContext(config), component) }, spec: pod },
        },
      },
    },
  };
}

/** Reads from a replica when there is one, so the dump does not load the primary. */
function dumpHost(config: StackConfig): string {
  return config.postgres.instances > 1 ? NAMES.postgresReplicas : NAMES.postgres;
}

export interface DumpTarget<S extends Input<string> = string> {
  bucket: S;
  roleArn?: S;
}

export function dumpServiceAccount(config: StackConfig, namespace: Input<string>) {
  return serviceAccount(config, NAMES.postgresDump, namespace, false);
}

/** Nightly pg_dump -Fc of the n8n database into the Object Lock bucket. */
export function dumpCronJob<S extends Input<string>>(
  config: StackConfig,
  namespace: Input<string>,
  target: DumpTarget<S>,
) {
  const credentials = target.roleArn ? webIdentityEnv(target.roleArn, NAMES.postgresDump) : staticKeyEnv();
  const pod = {
    ...jobPodSpec(
      config,
      {
        name: "dump",
        command: ["python3", "/sql/dump.py"],
        env: [
          ...appConnectionEnv(config, dumpHost(config)),
          { name: "DUMP_BUCKET", value: target.bucket },
          { name: "DUMP_PREFIX", value: DUMP_PREFIX },
          { name: "AWS_REGION", value: config.postgres.archive.region },
          ...credentials,
        ],
        volumeMounts: [...jobMounts, ...(target.roleArn ? [webIdentityTokenMount()] : [])],
      },
      [sqlVolume, ...(target.roleArn ? [webIdentityTokenVolume()] : [])],
    ),
    serviceAccountName: NAMES.postgresDump,
  };
  return cronJob(config, namespace, NAMES.postgresDump, "postgres-dump", config.postgres.backup.dump.schedule, pod);
}

/** The outbox reaper and pruner, as the app role. */
export function outboxReaperCronJob(config: StackConfig, namespace: Input<string>) {
  const pod = jobPodSpec(
    config,
    {
      name: "reaper",
      command: ["psql", "--no-psqlrc", "--file=/sql/outbox-reaper.sql"],
      env: appConnectionEnv(config, NAMES.postgres),
      volumeMounts: jobMounts,
    },
    [sqlVolume],
  );
  return cronJob(config, namespace, NAMES.outboxReaper, "outbox-reaper", config.postgres.outbox.reaperSchedule, pod);
}

/** Static AWS keys for WAL-G and the dump job (credentials "static" only). */
export function awsKeysSecret<S extends Input<string>>(
  config: StackConfig,
  namespace: Input<string>,
  accessKeyId: S,
  secretAccessKey: S,
) {
  return {
    metadata: meta(config, AWS_KEYS_SECRET.name, namespace),
    type: "Opaque",
    stringData: {
      [AWS_KEYS_SECRET.keys.accessKeyId]: accessKeyId,
      [AWS_KEYS_SECRET.keys.secretAccessKey]: secretAccessKey,
    },
  };
}
