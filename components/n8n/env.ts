/**
 * The one env builder shared by every n8n container (main, worker, webhook) and the task-runner
 * sidecar. Names are n8n 2.x's own (test/fixtures/env-names-2.40.7.txt, read off n8n 2.40.7; a test checks each); secrets only ever arrive
 * through secretKeyRef.
 */

import { APP_DATABASE, DB_USERS, NAMES, PORTS, secretKeyRef } from "../kubernetes/names";
import type { N8nProps } from "./props";

export type N8nRole = "main" | "worker" | "webhook";

export type EnvVar =
  | { name: string; value: string }
  | { name: string; valueFrom: { secretKeyRef: { name: string; key: string } } };

const value = (name: string, v: string | number | boolean): EnvVar => ({ name, value: String(v) });

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

function commonEnv(props: N8nProps, role: N8nRole): EnvVar[] {
  const { n8n, runners } = props;
  const ex = n8n.executions;
  return [
    // Queue mode: main and webhook processors enqueue into Redis, workers run the jobs.
    value("EXECUTIONS_MODE", "queue"),
    value("DB_TYPE", "postgresdb"),
    value("DB_POSTGRESDB_HOST", NAMES.postgres),
    value("DB_POSTGRESDB_PORT", PORTS.postgres),
    value("DB_POSTGRESDB_DATABASE", APP_DATABASE),
    value("DB_POSTGRESDB_USER", DB_USERS.app),
    { name: "DB_POSTGRESDB_PASSWORD", valueFrom: secretKeyRef("postgres", "appPassword") },
    value("DB_POSTGRESDB_POOL_SIZE", poolSize(props, role)),
    // n8n would send `SET statement_timeout` on every pool checkout (about 10 extra round trips per
    // execution); the app role carries the same timeout in PostgreSQL instead (bootstrap Job).
    value("DB_POSTGRESDB_STATEMENT_TIMEOUT", 0),
    // Encrypted to Spilo's self-signed certificate: the server is not verified, the traffic is private.
    ...(props.postgresTls
      ? [value("DB_POSTGRESDB_SSL_ENABLED", true), value("DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED", false)]
      : []),
    value("QUEUE_BULL_REDIS_HOST", NAMES.redis),
    value("QUEUE_BULL_REDIS_PORT", PORTS.redis),
    value("QUEUE_BULL_REDIS_DB", 0),
    { name: "QUEUE_BULL_REDIS_PASSWORD", valueFrom: secretKeyRef("redis", "password") },
    value("QUEUE_BULL_PREFIX", n8n.queuePrefix),
    { name: "N8N_ENCRYPTION_KEY", valueFrom: secretKeyRef("n8n", "encryptionKey") },
    value("N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS", true),
    value("N8N_PORT", PORTS.n8n),
    // URLs n8n writes into responses and resume links, on every role.
    value("N8N_HOST", props.domain),
    value("N8N_PROTOCOL", "https"),
    value("N8N_WEBHOOK_URL", publicUrl(props)),
    value("N8N_EDITOR_BASE_URL", publicUrl(props)),
    value("GENERIC_TIMEZONE", n8n.timezone),
    value("N8N_LOG_LEVEL", n8n.logLevel),
    value("N8N_LOG_FORMAT", n8n.logFormat),
    value("N8N_LOG_OUTPUT", "console"),
    value("N8N_METRICS", true),
    value("N8N_METRICS_INCLUDE_DEFAULT_METRICS", true),
    value("N8N_METRICS_INCLUDE_QUEUE_METRICS", true),
    value("N8N_METRICS_INCLUDE_API_ENDPOINTS", role !== "worker"),
    value("N8N_METRICS_INCLUDE_WORKFLOW_EXECUTION_DURATION", true),
    value("N8N_METRICS_INCLUDE_MESSAGE_EVENT_BUS_METRICS", true),
    value("N8N_DIAGNOSTICS_ENABLED", false),
    value("N8N_VERSION_NOTIFICATIONS_ENABLED", false),
    value("N8N_SSRF_PROTECTION_ENABLED", n8n.ssrfProtection),
    value("N8N_GRACEFUL_SHUTDOWN_TIMEOUT", n8n.gracefulShutdownSeconds),
    // Queue mode cannot share a filesystem between pods: binary data lives in PostgreSQL.
    value("N8N_DEFAULT_BINARY_DATA_MODE", "database"),
    value("EXECUTIONS_DATA_PRUNE", true),
    value("EXECUTIONS_DATA_MAX_AGE", ex.pruneMaxAgeHours),
    value("EXECUTIONS_DATA_PRUNE_MAX_COUNT", ex.pruneMaxCount),
    value("EXECUTIONS_DATA_SAVE_ON_SUCCESS", ex.saveOnSuccess),
    value("EXECUTIONS_DATA_SAVE_ON_ERROR", ex.saveOnError),
    value("EXECUTIONS_DATA_SAVE_MANUAL_EXECUTIONS", ex.saveManual),
    value("EXECUTIONS_TIMEOUT", ex.timeoutSeconds),
    // Task runners: external mode talks to a sidecar over loopback; internal mode is deprecated.
    value("N8N_RUNNERS_MODE", runners.enabled ? "external" : "internal"),
    ...(runners.enabled
      ? [
          { name: "N8N_RUNNERS_AUTH_TOKEN", valueFrom: secretKeyRef("n8n", "runnersAuthToken") },
          value("N8N_RUNNERS_BROKER_LISTEN_ADDRESS", "127.0.0.1"),
          value("N8N_RUNNERS_BROKER_PORT", PORTS.runnerBroker),
        ]
      : []),
    value("N8N_RUNNERS_TASK_TIMEOUT", runners.taskTimeoutSeconds),
    // Every execution evaluates its expressions in a fresh isolate; reuse V8's compiled code of the
    // runtime bundle across isolates instead of parsing it again each time (V8 checks the cache).
    value("N8N_EXPRESSION_ENGINE_COMPILE_CACHE", true),
    ...Object.entries(PINNED_FUTURE_DEFAULTS).map(([k, v]) => value(k, v)),
  ];
}

function roleEnv(props: N8nProps, role: N8nRole): EnvVar[] {
  switch (role) {
    case "main":
      return [
        value("N8N_PROXY_HOPS", 1),
        // Manual runs from the editor go to workers too, so main's event loop stays on the UI and API.
        value("OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS", true),
        ...(props.webhooks.enabled ? [value("N8N_DISABLE_PRODUCTION_MAIN_PROCESS", true)] : []),
        ...(props.n8n.multiMain ? [value("N8N_MULTI_MAIN_SETUP_ENABLED", true)] : []),
      ];
    case "worker":
      // The worker's health server serves /healthz, /healthz/readiness and /metrics.
      return [value("QUEUE_HEALTH_CHECK_ACTIVE", true), value("QUEUE_HEALTH_CHECK_PORT", PORTS.n8n)];
    case "webhook":
      return [value("N8N_PROXY_HOPS", 1)];
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
    value("N8N_RUNNERS_TASK_BROKER_URI", `http://127.0.0.1:${PORTS.runnerBroker}`),
    { name: "N8N_RUNNERS_AUTH_TOKEN", valueFrom: secretKeyRef("n8n", "runnersAuthToken") },
    value("N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT", r.autoShutdownTimeoutSeconds),
    value("N8N_RUNNERS_MAX_CONCURRENCY", r.maxConcurrency),
    value("N8N_RUNNERS_TASK_TIMEOUT", r.taskTimeoutSeconds),
    value("GENERIC_TIMEZONE", props.n8n.timezone),
  ];
}
