/**
 * Spilo (Patroni + PostgreSQL 17 + WAL-G): the SPILO_CONFIGURATION document and the container env.
 * Facts from zalando/spilo's configure_spilo.py: SPILO_CONFIGURATION is deep-merged over Spilo's
 * template with ours winning (lists, such as pg_hba, replace Spilo's); `bootstrap.dcs` is written to
 * the DCS once, when the cluster is first initialised.
 */

import { memoryBytes, toMebibytes } from "../../config/quantity";
import { staticKeyEnv } from "../kubernetes/aws-identity";
import { type EnvVar, envValue } from "../kubernetes/fragments";
import { DB_USERS, NAMES, PORTS, secretKeyRef } from "../kubernetes/names";
import type { PostgresProps } from "./props";
import { spiloTlsEnv } from "./tls";

/** PostgreSQL major version of the pinned Spilo image (spilo-17); WAL-G paths include it. */
export const PG_VERSION = 17;

/** Patroni's Kubernetes labels: scope label on every pod, role label set by Patroni itself. */
export const SCOPE_LABEL = "cluster-name";
export const ROLE_LABEL = "spilo-role";
export const LEADER_ROLE = "master";
export const REPLICA_ROLE = "replica";

/** Where WAL-G keeps this cluster inside the archive bucket (Spilo: /spilo/<prefix><scope><suffix>/wal/<version>). */
export function walPrefix(scope: string = NAMES.postgres): string {
  return `spilo/${scope}/wal/${PG_VERSION}`;
}

/** Where nightly dumps go inside the dump bucket. */
export const DUMP_PREFIX = `dumps/${NAMES.postgres}`;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const mb = (n: number) => `${Math.floor(n)}MB`;

/**
 * Memory and WAL settings scaled from the container's memory limit and volume size, after the
 * usual large-instance tuning (for 16 GiB: shared_buffers 4 GB, effective_cache_size 12 GB,
 * maintenance_work_mem 1 GB, work_mem 20 MB at 200 connections, wal_keep_size 1 GB). Local to each
 * member: they follow its memory limit, and a change of the limit restarts the pod anyway.
 */
export function derivedParameters(props: PostgresProps) {
  const p = props.postgres;
  const memMb = toMebibytes(memoryBytes(p.resources.limits.memory));
  const diskMb = toMebibytes(memoryBytes(p.storageSize));
  return {
    shared_buffers: mb(memMb / 4),
    effective_cache_size: mb((memMb * 3) / 4),
    maintenance_work_mem: mb(clamp(memMb / 16, 64, 1024)),
    wal_buffers: "16MB",
    max_wal_size: mb(clamp(diskMb / 10, 1024, 16384)),
    min_wal_size: mb(clamp(diskMb / 40, 256, 2048)),
    random_page_cost: "1.1",
    effective_io_concurrency: "200",
    checkpoint_completion_target: "0.9",
  };
}

/** What shared_buffers leaves, shared by every connection running about three sorts at once. */
export function workMem(props: PostgresProps): string {
  const memMb = toMebibytes(memoryBytes(props.postgres.resources.limits.memory));
  return mb(clamp((memMb - memMb / 4) / (props.postgres.maxConnections * 3), 4, 256));
}

/**
 * Parameters Patroni keeps cluster-wide in the DCS: those that must match on every member
 * (max_connections, wal_level, ...), and the ones that change without a restart, so that a change
 * reaches the running cluster through Patroni instead of rolling the pods.
 */
export function dcsParameters(props: PostgresProps) {
  const diskMb = toMebibytes(memoryBytes(props.postgres.storageSize));
  return {
    max_connections: String(props.postgres.maxConnections),
    max_wal_senders: "10",
    max_replication_slots: "10",
    wal_level: "replica",
    wal_keep_size: mb(clamp(diskMb / 20, 256, 1024)),
    work_mem: workMem(props),
    ...LOGGING_PARAMETERS,
    password_encryption: "scram-sha-256",
    // Spilo's default is 1800 s: a quiet database would lose up to 30 minutes.
    archive_timeout: `${props.postgres.archive.timeoutSeconds}s`,
  };
}

/** Audit and operations logging: who, from where, which database, DDL, slow statements, lock waits. */
export const LOGGING_PARAMETERS = {
  log_line_prefix: "%m [%p] %q%u@%d from %h (%a) ",
  log_statement: "ddl",
  log_min_duration_statement: "1000",
  log_checkpoints: "on",
  log_connections: "on",
  log_disconnections: "on",
  log_lock_waits: "on",
  log_temp_files: "0",
} as const;

/** pg_hba: socket and loopback for Spilo's own tools, scram from the pod CIDRs, nothing else. */
export function pgHba(props: PostgresProps): string[] {
  const host = props.postgres.tls ? "hostssl" : "host";
  return [
    "local all all trust",
    "host all all 127.0.0.1/32 scram-sha-256",
    "host all all ::1/128 scram-sha-256",
    `local replication ${DB_USERS.replication} trust`,
    ...props.postgres.clientCidrs.map((cidr) => `hostssl replication ${DB_USERS.replication} ${cidr} scram-sha-256`),
    ...props.postgres.clientCidrs.map((cidr) => `${host} all all ${cidr} scram-sha-256`),
    "host all all all reject",
  ];
}

/** Patroni's dynamic configuration (the DCS `config`): bootstrap.dcs at creation, then PATCH /config. */
export function dcsConfiguration(props: PostgresProps) {
  const { patroni } = props.postgres;
  return {
    ttl: patroni.ttl,
    loop_wait: patroni.loopWait,
    retry_timeout: patroni.retryTimeout,
    // Patroni 3.0+: a leader that cannot update its lock keeps running as primary while every
    // member answers its POST /failsafe (test/engine/postgres-failover.test.ts: 0 demotions).
    failsafe_mode: patroni.failsafeMode,
    maximum_lag_on_failover: patroni.maximumLagOnFailover,
    synchronous_mode: patroni.synchronousMode,
    synchronous_mode_strict: patroni.synchronousModeStrict,
    postgresql: { parameters: dcsParameters(props) },
  };
}

/** The user of Patroni's REST API for its unsafe endpoints (restart, failover, reinitialize, config). */
export const RESTAPI_USER = "patroni";

/** Env names the kubelet expands inside SPILO_CONFIGURATION (dependent environment variables). */
export const SPILO_REFS = { restapiPassword: "RESTAPI_PASSWORD", bootstrapDcs: "SPILO_BOOTSTRAP_DCS" } as const;

/**
 * The Patroni configuration Spilo merges over its template, as the container sees it once the
 * kubelet has expanded the references: the DCS part comes from a ConfigMap and the REST API password
 * from a Secret, so neither is a literal of the pod template. Only local settings are literal: they
 * take a restart to apply, so a change of them rolls the members, and nothing else does.
 */
export function spiloConfiguration(props: PostgresProps, restapiPassword = `$(${SPILO_REFS.restapiPassword})`) {
  return {
    bootstrap: { dcs: dcsConfiguration(props) },
    // Unsafe endpoints need these credentials; GET (probes, /metrics, /patroni) stays open.
    restapi: { authentication: { username: RESTAPI_USER, password: restapiPassword } },
    postgresql: {
      parameters: {
        ...derivedParameters(props),
        ssl: "on",
        archive_mode: props.postgres.archive.enabled ? "on" : "off",
        // Explicit parameters win over everything, DCS included (Patroni: local settings override).
        ...props.postgres.parameters,
      },
      pg_hba: pgHba(props),
    },
  };
}

/**
 * The SPILO_CONFIGURATION env value: spiloConfiguration with the DCS part and the password left as
 * $(NAME) references. Any other "$(" is escaped as "$$(" so the kubelet leaves it alone.
 */
export function spiloConfigurationTemplate(props: PostgresProps): string {
  const DCS = "\u0000dcs\u0000";
  const PASSWORD = "\u0000password\u0000";
  const doc = spiloConfiguration(props, PASSWORD) as Record<string, unknown>;
  doc.bootstrap = { dcs: DCS };
  return JSON.stringify(doc)
    .replaceAll("$(", "$$$$(")
    .replace(JSON.stringify(DCS), `$(${SPILO_REFS.bootstrapDcs})`)
    .replace(JSON.stringify(PASSWORD), `"$(${SPILO_REFS.restapiPassword})"`);
}

/** What the archive env needs from the AWS side (Outputs in the component, plain strings in tests). */
export interface ArchiveTarget<S = string> {
  bucket: S;
  /**
   * IAM role for IRSA; absent with static keys. It never reaches the container env: WAL-G finds it in
   * the files of walgAwsConfig (see kubernetes/aws-identity.ts for why).
   */
  roleArn?: S;
}

type Env<S> =
  | { name: string; value: S }
  | EnvVar
  | { name: string; valueFrom: { fieldRef: { fieldPath: string } } }
  | { name: string; valueFrom: { configMapKeyRef: { name: string; key: string } } };

/** Files of the n8n-postgres-patroni ConfigMap. */
export const PATRONI_FILES = { dcs: "dcs.json", apply: "apply-dcs.py" } as const;

/** WAL-G to S3: static keys from a Secret, or (IRSA) no credential variable at all. */
export function archiveEnv<S>(props: PostgresProps, target: ArchiveTarget<S>): Env<S>[] {
  const a = props.postgres.archive;
  const b = props.postgres.backup;
  return [
    envValue("USE_WALG_BACKUP", true),
    envValue("USE_WALG_RESTORE", true),
    { name: "WAL_S3_BUCKET", value: target.bucket },
    // No namespace prefix: the WAL path is exactly spilo/<scope>/wal/<version>, which the IAM policy names.
    envValue("WAL_BUCKET_SCOPE_PREFIX", ""),
    envValue("WAL_BUCKET_SCOPE_SUFFIX", ""),
    envValue("AWS_REGION", a.region),
    ...(a.kmsKeyArn
      ? [envValue("WALG_S3_SSE", "aws:kms"), envValue("WALG_S3_SSE_KMS_ID", a.kmsKeyArn)]
      : [envValue("WALG_S3_SSE", "AES256")]),
    envValue("BACKUP_SCHEDULE", b.schedule),
    envValue("BACKUP_NUM_TO_RETAIN", b.numToRetain),
    ...(target.roleArn ? [] : staticKeyEnv()),
  ];
}

/** Point-in-time clone of an archive (Spilo CLONE_* env): bootstraps a new cluster, then runs as usual. */
export function restoreEnv<S>(props: PostgresProps, target: ArchiveTarget<S>): Env<S>[] {
  const r = props.postgres.restore;
  if (!r) return [];
  return [
    envValue("CLONE_METHOD", "CLONE_WITH_WALE"),
    envValue("CLONE_SCOPE", r.fromScope ?? NAMES.postgres),
    r.fromBucket
      ? envValue("CLONE_WAL_S3_BUCKET", r.fromBucket)
      : { name: "CLONE_WAL_S3_BUCKET", value: target.bucket },
    envValue("CLONE_WAL_BUCKET_SCOPE_PREFIX", ""),
    envValue("CLONE_WAL_BUCKET_SCOPE_SUFFIX", ""),
    envValue("CLONE_PGVERSION", PG_VERSION),
    envValue("CLONE_AWS_REGION", r.fromRegion ?? props.postgres.archive.region),
    envValue("CLONE_USE_WALG_RESTORE", true),
    envValue("CLONE_TARGET_TIME", r.targetTime),
    // With IRSA the clone's WAL-G runs as user postgres too and finds the role in the same files.
    ...(target.roleArn ? [] : staticKeyEnv("CLONE_")),
  ];
}

/** The whole env of the Spilo container. */
export function spiloEnv<S>(props: PostgresProps, target: ArchiveTarget<S> | undefined): Env<S>[] {
  const labels = { "app.kubernetes.io/name": "postgres", "app.kubernetes.io/instance": props.ctx.instance };
  return [
    envValue("SCOPE", NAMES.postgres),
    envValue("PGVERSION", PG_VERSION),
    envValue("PGROOT", "/home/postgres/pgdata/pgroot"),
    { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
    { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
    envValue("PGUSER_SUPERUSER", DB_USERS.superuser),
    { name: "PGPASSWORD_SUPERUSER", valueFrom: secretKeyRef("postgres", "superuserPassword") },
    envValue("PGUSER_STANDBY", DB_USERS.replication),
    { name: "PGPASSWORD_STANDBY", valueFrom: secretKeyRef("postgres", "replicationPassword") },
    envValue("DCS_ENABLE_KUBERNETES_API", true),
    // Endpoints are deprecated from Kubernetes 1.33: Patroni keeps its state in ConfigMaps.
    envValue("KUBERNETES_USE_CONFIGMAPS", true),
    envValue("KUBERNETES_SCOPE_LABEL", SCOPE_LABEL),
    envValue("KUBERNETES_ROLE_LABEL", ROLE_LABEL),
    envValue("KUBERNETES_LEADER_LABEL_VALUE", LEADER_ROLE),
    envValue("KUBERNETES_LABELS", JSON.stringify(labels)),
    // Referenced by SPILO_CONFIGURATION, so they come first. Changes of the DCS ConfigMap roll no pod:
    // Patroni reads bootstrap.dcs once, at creation; later the patroni-config Job applies it.
    { name: SPILO_REFS.restapiPassword, valueFrom: secretKeyRef("postgres", "patroniApiPassword") },
    {
      name: SPILO_REFS.bootstrapDcs,
      valueFrom: { configMapKeyRef: { name: NAMES.postgresPatroni, key: PATRONI_FILES.dcs } },
    },
    envValue("SPILO_CONFIGURATION", spiloConfigurationTemplate(props)),
    envValue("APIPORT", PORTS.patroni),
    ...spiloTlsEnv(props),
    ...(target ? [...archiveEnv(props, target), ...restoreEnv(props, target)] : []),
  ];
}
