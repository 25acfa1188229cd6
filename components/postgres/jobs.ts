/**
 * Pure spec builders for the Jobs around the Patroni cluster: the bootstrap Job (app role and
 * database), the patroni-config Job (dynamic configuration), the nightly dump and the outbox reaper.
 */

import { createHash } from "node:crypto";
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import type { StackConfig } from "../../config";
import {
  staticKeyEnv,
  webIdentityEnv,
  webIdentityTokenMount,
  webIdentityTokenVolume,
} from "../kubernetes/aws-identity";
import { type ComponentName, labelContext, labels } from "../kubernetes/labels";
import { APP_DATABASE, DB_USERS, NAMES, PORTS, secretKeyRef } from "../kubernetes/names";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from "../kubernetes/pod-security";
import { DUMP_PREFIX, dcsConfiguration, PATRONI_FILES, RESTAPI_USER } from "./spilo";
import {
  applyDcsScript,
  appUserSql,
  dumpScript,
  monitoringUserSql,
  outboxExporterQueries,
  outboxReaperSql,
  outboxSchemaSql,
} from "./sql";
import { meta, SPILO_GID, SPILO_UID, serviceAccount } from "./statefulset";

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
  } satisfies k8s.types.input.core.v1.PodSpec;
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
  } satisfies k8s.core.v1.ConfigMapArgs;
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
  } satisfies k8s.core.v1.ConfigMapArgs;
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
  } satisfies k8s.batch.v1.JobArgs;
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
  } satisfies k8s.batch.v1.JobArgs;
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
  } satisfies k8s.batch.v1.CronJobArgs;
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
