/**
 * Pure spec builders for the Jobs around the Patroni cluster: the bootstrap Job (app role and
 * database), the patroni-config Job (dynamic configuration), the nightly dump and the outbox reaper.
 */

import { createHash } from "node:crypto";
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import {
  staticKeyEnv,
  webIdentityEnv,
  webIdentityTokenMount,
  webIdentityTokenVolume,
} from "../kubernetes/aws-identity";
import { envFromSecretKey } from "../kubernetes/fragments";
import { type ComponentName, labels } from "../kubernetes/labels";
import { APP_DATABASE, DB_USERS, NAMES, PORTS, secretKeyRef } from "../kubernetes/names";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from "../kubernetes/pod-security";
import type { PostgresProps } from "./props";
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
import { jobCaMount, jobCaVolume, jobSslEnv } from "./tls";

/** The superuser connection env of a Job that talks to the primary (over TLS). */
export function superuserConnectionEnv(props: PostgresProps) {
  return [
    { name: "PGHOST", value: NAMES.postgres },
    { name: "PGPORT", value: String(PORTS.postgres) },
    { name: "PGUSER", value: DB_USERS.superuser },
    { name: "PGPASSWORD", valueFrom: secretKeyRef("postgres", "superuserPassword") },
    { name: "PGDATABASE", value: "postgres" },
    ...jobSslEnv(props, props.connection),
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
  | typeof jobCaVolume
  | ReturnType<typeof webIdentityTokenVolume>;

/** A restricted pod spec for short-lived Spilo-image containers (psql, pg_dump). */
export function jobPodSpec(props: PostgresProps, container: JobContainer, volumes: Volume[] = []) {
  // A container that verifies the server (PGSSLROOTCERT) gets the CA file it names.
  const verifies = container.env.some((e) => e.name === "PGSSLROOTCERT");
  const withCa = verifies ? { ...container, volumeMounts: [...container.volumeMounts, jobCaMount] } : container;
  return {
    restartPolicy: "Never",
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: restrictedPodSecurityContext(SPILO_UID, SPILO_GID),
    containers: [
      {
        image: props.postgres.image,
        imagePullPolicy: "IfNotPresent",
        resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
        securityContext: restrictedContainerSecurityContext(),
        ...withCa,
      },
    ],
    volumes: [{ name: "tmp", emptyDir: { sizeLimit: "1Gi" } }, ...volumes, ...(verifies ? [jobCaVolume] : [])],
  } satisfies k8s.types.input.core.v1.PodSpec;
}

/** Files the Jobs run: SQL scripts and the dump uploader. */
export function bootstrapConfigMap(props: PostgresProps) {
  const { outbox, backup } = props.postgres;
  return {
    metadata: meta(props, NAMES.postgresBootstrap),
    data: {
      "app-user.sql": appUserSql(),
      "monitoring.sql": monitoringUserSql(),
      ...(outbox.enabled
        ? {
            "outbox.sql": outboxSchemaSql(),
            "outbox-reaper.sql": outboxReaperSql(props),
            "exporter-queries.yaml": outboxExporterQueries(props),
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
function appConnectionEnv(props: PostgresProps, host: string) {
  return [
    { name: "PGHOST", value: host },
    { name: "PGPORT", value: String(PORTS.postgres) },
    { name: "PGUSER", value: DB_USERS.app },
    envFromSecretKey("PGPASSWORD", props.appPasswordRef),
    { name: "PGDATABASE", value: APP_DATABASE },
    ...jobSslEnv(props, props.connection),
    { name: "HOME", value: "/tmp" },
  ];
}

/** Patroni's dynamic configuration (read by Spilo at creation, applied by the Job later) and the Job's script. */
export function patroniConfigMap(props: PostgresProps) {
  return {
    metadata: meta(props, NAMES.postgresPatroni),
    data: {
      [PATRONI_FILES.dcs]: `${JSON.stringify(dcsConfiguration(props))}\n`,
      [PATRONI_FILES.apply]: applyDcsScript(),
    },
  } satisfies k8s.core.v1.ConfigMapArgs;
}

/**
 * Applies the dynamic configuration to the running cluster. Its pod template carries a digest of the
 * configuration, so Pulumi replaces (re-runs) the Job exactly when the configuration changes.
 */
export function patroniConfigJob(props: PostgresProps) {
  const digest = createHash("sha256")
    .update(JSON.stringify(dcsConfiguration(props)))
    .digest("hex");
  return {
    metadata: meta(props, NAMES.postgresPatroniConfig),
    spec: {
      backoffLimit: 3,
      activeDeadlineSeconds: 1800,
      template: {
        metadata: {
          labels: labels(props.ctx, "postgres-config"),
          annotations: { "n8n-cluster/dcs-sha256": digest },
        },
        spec: jobPodSpec(
          props,
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
export function bootstrapJob(props: PostgresProps) {
  const steps = [
    "until pg_isready --quiet; do echo 'waiting for the primary'; sleep 5; done",
    "psql --no-psqlrc --file=/sql/app-user.sql",
    "psql --no-psqlrc --file=/sql/monitoring.sql",
    ...(props.postgres.outbox.enabled ? ["psql --no-psqlrc --file=/sql/outbox.sql"] : []),
  ];
  return {
    metadata: meta(props, NAMES.postgresBootstrap),
    spec: {
      backoffLimit: 10,
      activeDeadlineSeconds: 1800,
      template: {
        metadata: { labels: labels(props.ctx, "postgres-bootstrap") },
        spec: jobPodSpec(
          props,
          {
            name: "bootstrap",
            command: ["/bin/sh", "-ec", steps.join("\n")],
            env: [
              ...superuserConnectionEnv(props),
              ...appEnv(),
              envFromSecretKey("APP_PASSWORD", props.appPasswordRef),
              { name: "APP_STATEMENT_TIMEOUT", value: `${props.appStatementTimeoutSeconds}s` },
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

/** How long a Job of the database may run (a dump of a large database); Pulumi waits as long for the pre-upgrade dump. */
export const JOB_DEADLINE_SECONDS = 6 * 3600;

function cronJob(props: PostgresProps, name: string, component: ComponentName, schedule: string, pod: JobPodSpec) {
  return {
    metadata: meta(props, name),
    spec: {
      schedule,
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        spec: {
          backoffLimit: 2,
          activeDeadlineSeconds: JOB_DEADLINE_SECONDS,
          template: { metadata: { labels: labels(props.ctx, component) }, spec: pod },
        },
      },
    },
  } satisfies k8s.batch.v1.CronJobArgs;
}

/** Reads from a replica when there is one, so the dump does not load the primary. */
function dumpHost(props: PostgresProps): string {
  return props.postgres.instances > 1 ? NAMES.postgresReplicas : NAMES.postgres;
}

export interface DumpTarget<S extends Input<string> = string> {
  bucket: S;
  roleArn?: S;
}

export function dumpServiceAccount(props: PostgresProps) {
  return serviceAccount(props, NAMES.postgresDump, false);
}

/** The dump's pod: pg_dump -Fc of the n8n database into the Object Lock bucket (dump.py). */
function dumpPodSpec<S extends Input<string>>(props: PostgresProps, target: DumpTarget<S>) {
  const credentials = target.roleArn ? webIdentityEnv(target.roleArn, NAMES.postgresDump) : staticKeyEnv();
  return {
    ...jobPodSpec(
      props,
      {
        name: "dump",
        command: ["python3", "/sql/dump.py"],
        env: [
          ...appConnectionEnv(props, dumpHost(props)),
          { name: "DUMP_BUCKET", value: target.bucket },
          { name: "DUMP_PREFIX", value: DUMP_PREFIX },
          { name: "AWS_REGION", value: props.postgres.archive.region },
          ...credentials,
        ],
        volumeMounts: [...jobMounts, ...(target.roleArn ? [webIdentityTokenMount()] : [])],
      },
      [sqlVolume, ...(target.roleArn ? [webIdentityTokenVolume()] : [])],
    ),
    serviceAccountName: NAMES.postgresDump,
  };
}

/** Nightly pg_dump -Fc of the n8n database into the Object Lock bucket. */
export function dumpCronJob<S extends Input<string>>(props: PostgresProps, target: DumpTarget<S>) {
  return cronJob(
    props,
    NAMES.postgresDump,
    "postgres-dump",
    props.postgres.backup.dump.schedule,
    dumpPodSpec(props, target),
  );
}

/** The pre-upgrade dump's name: one per n8n release, so a new release is a new Job that must run. */
export function preUpgradeDumpName(n8nVersion: string): string {
  return `${NAMES.postgresPreUpgradeDump}-${n8nVersion.replaceAll(".", "-")}`;
}

/**
 * The upgrade guard: the same dump as the nightly one, as a Job named after the n8n release the
 * stack runs. n8n main waits for it (components/cluster.ts): when n8n.version changes, Pulumi
 * creates this Job, waits for it to succeed, and only then changes main's image, whose start runs
 * the database migrations. A failed dump stops the update before any n8n pod changes.
 */
export function preUpgradeDumpJob<S extends Input<string>>(
  props: PostgresProps,
  target: DumpTarget<S>,
  n8nVersion: string,
) {
  return {
    metadata: meta(props, preUpgradeDumpName(n8nVersion)),
    spec: {
      backoffLimit: 2,
      activeDeadlineSeconds: JOB_DEADLINE_SECONDS,
      template: { metadata: { labels: labels(props.ctx, "postgres-dump") }, spec: dumpPodSpec(props, target) },
    },
  } satisfies k8s.batch.v1.JobArgs;
}

/** The outbox reaper and pruner, as the app role. */
export function outboxReaperCronJob(props: PostgresProps) {
  const pod = jobPodSpec(
    props,
    {
      name: "reaper",
      command: ["psql", "--no-psqlrc", "--file=/sql/outbox-reaper.sql"],
      env: appConnectionEnv(props, NAMES.postgres),
      volumeMounts: jobMounts,
    },
    [sqlVolume],
  );
  return cronJob(props, NAMES.outboxReaper, "outbox-reaper", props.postgres.outbox.reaperSchedule, pod);
}
