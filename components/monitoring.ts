/**
 * Observability as code: what Prometheus scrapes (ServiceMonitors), what it alerts on
 * (PrometheusRule: failed executions, queue backlog, memory, API latency, PostgreSQL, Redis and
 * the outbox, in the metric names n8n 2.40, Patroni,
 * postgres_exporter and redis_exporter really expose) and a Grafana dashboard. All as data first.
 */
import * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { childrenOf } from "./children";
import { type PartContext, partContext } from "./kubernetes/context";
import { labels } from "./kubernetes/labels";
import { NAMES, SERVICE_LABEL } from "./kubernetes/names";

/** One scrape: a Service (by its name label) and one of its named ports. */
export interface ScrapeTarget {
  name: string;
  service: string;
  port: string;
  path: string;
}

/** What monitoring takes: the stack's context and the settings the rules and panels depend on. */
export interface MonitoringProps {
  /** Namespace, instance (the dashboard's title and uid), and n8n's version as the version label. */
  readonly ctx: PartContext;
  /** The namespace's name as PromQL selects it (known before deployment). */
  readonly namespaceName: string;
  readonly monitoring: StackConfig["monitoring"];
  readonly webhooksEnabled: boolean;
  /** archive_timeout, quoted by the stale-archive alert. */
  readonly archiveTimeoutSeconds: number;
  readonly outboxEnabled: boolean;
  /** The in-cluster PostgreSQL and Redis are watched here; external ones by whoever runs them. */
  readonly postgresInCluster: boolean;
  readonly redisInCluster: boolean;
}

export function monitoringProps(config: StackConfig, namespace: Input<string>): MonitoringProps {
  return {
    ctx: partContext(config, "n8n", namespace),
    namespaceName: config.namespace,
    monitoring: config.monitoring,
    webhooksEnabled: config.webhooks.enabled,
    archiveTimeoutSeconds: config.postgres.archive.timeoutSeconds,
    outboxEnabled: config.postgres.outbox.enabled,
    postgresInCluster: !config.connections.database.external,
    redisInCluster: !config.connections.queue.external,
  };
}

export function scrapeTargets(props: MonitoringProps): ScrapeTarget[] {
  return [
    { name: "n8n-main", service: NAMES.main, port: "http", path: "/metrics" },
    // The worker's health server (QUEUE_HEALTH_CHECK_ACTIVE) serves /metrics on the same port.
    { name: "n8n-worker", service: NAMES.worker, port: "http", path: "/metrics" },
    ...(props.webhooksEnabled ? [{ name: "n8n-webhook", service: NAMES.webhook, port: "http", path: "/metrics" }] : []),
    ...(props.postgresInCluster
      ? [
          { name: "patroni", service: NAMES.postgresHeadless, port: "patroni", path: "/metrics" },
          { name: "postgres-exporter", service: NAMES.postgresHeadless, port: "exporter", path: "/metrics" },
        ]
      : []),
    ...(props.redisInCluster
      ? [{ name: "redis-exporter", service: NAMES.redis, port: "metrics", path: "/metrics" }]
      : []),
  ];
}

function monitoringLabels(props: MonitoringProps) {
  return { ...labels(props.ctx, "monitoring"), ...props.monitoring.prometheusLabels };
}

export function serviceMonitor(props: MonitoringProps, target: ScrapeTarget) {
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "ServiceMonitor",
    metadata: { name: target.name, namespace: props.ctx.namespace, labels: monitoringLabels(props) },
    spec: {
      selector: { matchLabels: { [SERVICE_LABEL]: target.service } },
      namespaceSelector: { matchNames: [props.namespaceName] },
      endpoints: [{ port: target.port, path: target.path, interval: "30s", scrapeTimeout: "10s" }],
    },
  };
}

export interface AlertSpec {
  alert: string;
  expr: string;
  for: string;
  severity: "critical" | "warning";
  summary: string;
  description: string;
}

/**
 * Metrics n8n emits only once the event has happened (the first failed execution, say): they are
 * absent from a fresh instance's /metrics, hence from the reference lists, and still real.
 */
export const EVENT_DRIVEN_METRICS = ["n8n_workflow_failed_total"];

/**
 * Metrics from outside n8n that rules and panels use, with where they come from; a test keeps
 * every name used declared here.
 */
export const EXTERNAL_METRICS: Record<string, string> = {
  up: "Prometheus",
  patroni_cluster_unlocked: "Patroni /metrics",
  patroni_primary: "Patroni /metrics",
  patroni_pending_restart: "Patroni /metrics",
  pg_replication_lag_seconds: "postgres_exporter replication collector",
  pg_stat_archiver_failed_count: "postgres_exporter stat_archiver collector",
  pg_stat_archiver_last_archive_age: "postgres_exporter stat_archiver collector",
  pg_stat_activity_count: "postgres_exporter stat_activity collector",
  pg_settings_max_connections: "postgres_exporter settings collector",
  redis_aof_last_write_status: "redis_exporter (INFO persistence)",
  redis_aof_last_bgrewrite_status: "redis_exporter (INFO persistence)",
  redis_aof_enabled: "redis_exporter (INFO persistence)",
  redis_memory_used_bytes: "redis_exporter (INFO memory)",
  redis_memory_max_bytes: "redis_exporter (INFO memory)",
  container_memory_working_set_bytes: "kubelet cAdvisor",
  kube_pod_container_resource_limits: "kube-state-metrics",
  kube_pod_container_status_restarts_total: "kube-state-metrics",
  kube_horizontalpodautoscaler_status_current_replicas: "kube-state-metrics",
  kube_horizontalpodautoscaler_spec_max_replicas: "kube-state-metrics",
  n8n_outbox_pending: "postgres_exporter custom query (outbox)",
  n8n_outbox_oldest_pending_age_seconds: "postgres_exporter custom query (outbox)",
  n8n_outbox_failed_last_24h: "postgres_exporter custom query (outbox)",
};

/** The alert rules, in groups. Thresholds come from monitoring.thresholds. */
export function alertGroups(props: MonitoringProps): { name: string; rules: AlertSpec[] }[] {
  const t = props.monitoring.thresholds;
  const ns = `namespace="${props.namespaceName}"`;
  const n8n: AlertSpec[] = [
    {
      alert: "N8nMainDown",
      expr: `sum(up{${ns}, service="${NAMES.main}"}) == 0 or absent(up{${ns}, service="${NAMES.main}"})`,
      for: "5m",
      severity: "critical",
      summary: "n8n main is down",
      description: "Prometheus has not scraped a healthy n8n main for 5 minutes: no editor, API or enqueueing.",
    },
    {
      alert: "N8nFailedExecutions",
      expr: `sum(rate(n8n_workflow_failed_total{${ns}}[5m])) * 60 > ${t.failedExecutionsPerMinute}`,
      for: "5m",
      severity: "warning",
      summary: `More than ${t.failedExecutionsPerMinute} failed executions per minute`,
      description: "Workflow executions are failing at {{ $value | humanize }} per minute.",
    },
    {
      alert: "N8nQueueBacklog",
      expr: `max(n8n_scaling_mode_queue_jobs_waiting{${ns}}) > ${t.queueWaiting}`,
      for: "5m",
      severity: "warning",
      summary: `More than ${t.queueWaiting} jobs waiting in the queue`,
      description: "{{ $value }} jobs are waiting for a worker; workers may be saturated or stuck.",
    },
    {
      alert: "N8nApiLatencyHigh",
      expr: `histogram_quantile(0.95, sum by (le) (rate(n8n_http_request_duration_seconds_bucket{${ns}, service="${NAMES.main}"}[5m]))) > ${t.apiP95Seconds}`,
      for: "10m",
      severity: "warning",
      summary: `API p95 latency above ${t.apiP95Seconds * 1000} ms`,
      description: "The 95th percentile of n8n main's HTTP request duration is {{ $value | humanizeDuration }}.",
    },
    {
      alert: "N8nWorkersAtMaximum",
      expr: `max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas{${ns}, horizontalpodautoscaler=~".*${NAMES.worker}"}) >= max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas{${ns}, horizontalpodautoscaler=~".*${NAMES.worker}"})`,
      for: `${t.workersAtMaxMinutes}m`,
      severity: "warning",
      summary: "Workers pinned at the autoscaler's maximum",
      description: `Workers have run at workers.maxReplicas for ${t.workersAtMaxMinutes} minutes; raise it or find the slow workflows.`,
    },
  ];
  const kubernetes: AlertSpec[] = [
    {
      alert: "ContainerMemoryHigh",
      expr: `sum by (pod, container) (container_memory_working_set_bytes{${ns}, container!="", container!="POD"}) / sum by (pod, container) (kube_pod_container_resource_limits{${ns}, resource="memory"}) * 100 > ${t.memoryPercentOfLimit}`,
      for: "15m",
      severity: "warning",
      summary: `Container memory above ${t.memoryPercentOfLimit} % of its limit`,
      description: "{{ $labels.pod }}/{{ $labels.container }} uses {{ $value | humanize }} % of its memory limit.",
    },
    {
      alert: "PodRestarting",
      expr: `increase(kube_pod_container_status_restarts_total{${ns}}[15m]) > ${t.podRestarts}`,
      for: "0m",
      severity: "warning",
      summary: "A container keeps restarting",
      description: "{{ $labels.pod }}/{{ $labels.container }} restarted {{ $value | humanize }} times in 15 minutes.",
    },
  ];
  const postgres: AlertSpec[] = [
    {
      alert: "PatroniNoLeader",
      expr: `max(patroni_cluster_unlocked{${ns}}) == 1 or sum(patroni_primary{${ns}}) == 0`,
      for: "1m",
      severity: "critical",
      summary: "PostgreSQL has no leader",
      description: "No Patroni member holds the leader lock: n8n cannot write.",
    },
    {
      // The patroni-config Job applied a setting PostgreSQL takes only at start (max_connections).
      alert: "PostgresPendingRestart",
      expr: `max(patroni_pending_restart{${ns}}) == 1`,
      for: "30m",
      severity: "warning",
      summary: "PostgreSQL members wait for a restart to apply their configuration",
      description:
        "{{ $value }} member(s) run with settings older than Patroni's configuration: restart them in a quiet window.",
    },
    {
      alert: "PostgresReplicationLag",
      expr: `max by (pod) (pg_replication_lag_seconds{${ns}}) > ${t.replicationLagSeconds}`,
      for: "5m",
      severity: "warning",
      summary: `A replica lags more than ${t.replicationLagSeconds} s`,
      description: "{{ $labels.pod }} replays WAL {{ $value | humanizeDuration }} behind the leader.",
    },
    {
      alert: "PostgresWalArchiveFailing",
      expr: `increase(pg_stat_archiver_failed_count{${ns}}[10m]) > 0`,
      for: "0m",
      severity: "critical",
      summary: "WAL archiving to S3 fails",
      description: "{{ $labels.pod }} failed to archive WAL segments: point-in-time recovery is at risk.",
    },
    {
      alert: "PostgresWalArchiveStale",
      expr: `max(pg_stat_archiver_last_archive_age{${ns}} and on (pod) (patroni_primary{${ns}} == 1)) > ${t.archiveAgeSeconds}`,
      for: "5m",
      severity: "critical",
      summary: "No WAL segment archived recently",
      description: `The leader has archived nothing for {{ $value | humanizeDuration }} although archive_timeout is ${props.archiveTimeoutSeconds} s.`,
    },
  ];
  const redis: AlertSpec[] = [
    {
      alert: "RedisAofWriteFailing",
      expr: `min(redis_aof_last_write_status{${ns}}) == 0 or min(redis_aof_last_bgrewrite_status{${ns}}) == 0`,
      for: "1m",
      severity: "critical",
      summary: "Redis cannot write its append-only file",
      description: "The queue is no longer durable: a restart now would lose jobs.",
    },
    {
      alert: "RedisMemoryNearMax",
      expr: `max(redis_memory_used_bytes{${ns}} / redis_memory_max_bytes{${ns}} > 0) * 100 > ${t.redisMemoryPercent}`,
      for: "5m",
      severity: "warning",
      summary: `Redis above ${t.redisMemoryPercent} % of maxmemory`,
      description: "Under noeviction Redis refuses writes at maxmemory: n8n could not enqueue.",
    },
  ];
  const outbox: AlertSpec[] = [
    {
      alert: "OutboxOldestPendingStale",
      expr: `max(n8n_outbox_oldest_pending_age_seconds{${ns}}) > ${t.outboxOldestPendingSeconds}`,
      for: "1m",
      severity: "warning",
      summary: "The oldest outbox event waits too long",
      description: "The oldest pending outbox row is {{ $value | humanizeDuration }} old.",
    },
    {
      alert: "OutboxBacklog",
      expr: `max(n8n_outbox_pending{${ns}}) > ${t.outboxBacklog}`,
      for: "10m",
      severity: "warning",
      summary: `More than ${t.outboxBacklog} outbox events pending`,
      description: "{{ $value }} outbox rows are pending: consumers are not keeping up.",
    },
    {
      alert: "OutboxFailedEvents",
      expr: `sum by (event_type) (n8n_outbox_failed_last_24h{${ns}}) > 0`,
      for: "0m",
      severity: "critical",
      summary: "Outbox events failed for good",
      description:
        "{{ $value }} {{ $labels.event_type }} events exhausted their retries in the last 24 h (dead letters).",
    },
  ];
  return [
    { name: "n8n", rules: n8n },
    { name: "n8n-kubernetes", rules: kubernetes },
    ...(props.postgresInCluster ? [{ name: "n8n-postgres", rules: postgres }] : []),
    ...(props.redisInCluster ? [{ name: "n8n-redis", rules: redis }] : []),
    ...(props.outboxEnabled ? [{ name: "n8n-outbox", rules: outbox }] : []),
  ];
}

/** README anchor of an alert's runbook (GitHub's heading slug). */
export function runbookAnchor(alert: string): string {
  return alert.toLowerCase();
}

export function prometheusRule(props: MonitoringProps) {
  const base = props.monitoring.runbookBaseUrl;
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: { name: "n8n", namespace: props.ctx.namespace, labels: monitoringLabels(props) },
    spec: {
      groups: alertGroups(props).map((g) => ({
        name: g.name,
        rules: g.rules.map((r) => ({
          alert: r.alert,
          expr: r.expr,
          for: r.for,
          labels: { severity: r.severity },
          annotations: {
            summary: r.summary,
            description: r.description,
            runbook_url: `${base}#${runbookAnchor(r.alert)}`,
          },
        })),
      })),
    },
  };
}

interface PanelSpec {
  title: string;
  unit: string;
  targets: { expr: string; legend: string }[];
}

/** The dashboard's panels: queue, executions, latency, scaling, database, Redis. */
export function dashboardPanels(props: MonitoringProps): PanelSpec[] {
  const ns = `namespace="${props.namespaceName}"`;
  // Panels of a server the stack does not run would stay empty: the exporters are not here.
  const shown = (p: PanelSpec) =>
    !p.targets.some(
      (t) =>
        (!props.postgresInCluster && /\b(pg|patroni)_/.test(t.expr)) ||
        (!props.redisInCluster && /\bredis_/.test(t.expr)),
    );
  return panels(ns).filter(shown);
}

function panels(ns: string): PanelSpec[] {
  return [
    {
      title: "Queue: waiting and active jobs",
      unit: "short",
      targets: [
        { expr: `max(n8n_scaling_mode_queue_jobs_waiting{${ns}})`, legend: "waiting" },
        { expr: `max(n8n_scaling_mode_queue_jobs_active{${ns}})`, legend: "active" },
      ],
    },
    {
      title: "Executions per second by status",
      unit: "ops",
      targets: [
        { expr: `sum(rate(n8n_workflow_success_total{${ns}}[5m]))`, legend: "success" },
        { expr: `sum(rate(n8n_workflow_failed_total{${ns}}[5m]))`, legend: "failed" },
        { expr: `sum(rate(n8n_scaling_mode_queue_jobs_completed{${ns}}[5m]))`, legend: "jobs completed" },
      ],
    },
    {
      title: "Execution duration p95",
      unit: "s",
      targets: [
        {
          expr: `histogram_quantile(0.95, sum by (le) (rate(n8n_workflow_execution_duration_seconds_bucket{${ns}}[5m])))`,
          legend: "p95",
        },
      ],
    },
    {
      title: "API latency p95",
      unit: "s",
      targets: [
        {
          expr: `histogram_quantile(0.95, sum by (le) (rate(n8n_http_request_duration_seconds_bucket{${ns}, service="${NAMES.main}"}[5m])))`,
          legend: "p95",
        },
      ],
    },
    {
      title: "Workers vs autoscaler maximum",
      unit: "short",
      targets: [
        {
          expr: `max(kube_horizontalpodautoscaler_status_current_replicas{${ns}, horizontalpodautoscaler=~".*${NAMES.worker}"})`,
          legend: "workers",
        },
        {
          expr: `max(kube_horizontalpodautoscaler_spec_max_replicas{${ns}, horizontalpodautoscaler=~".*${NAMES.worker}"})`,
          legend: "maximum",
        },
      ],
    },
    {
      title: "PostgreSQL connections vs max_connections",
      unit: "short",
      targets: [
        { expr: `sum by (pod) (pg_stat_activity_count{${ns}})`, legend: "{{pod}}" },
        { expr: `max(pg_settings_max_connections{${ns}})`, legend: "max_connections" },
      ],
    },
    {
      title: "Replication lag",
      unit: "s",
      targets: [{ expr: `max by (pod) (pg_replication_lag_seconds{${ns}})`, legend: "{{pod}}" }],
    },
    {
      title: "Seconds since the last archived WAL segment",
      unit: "s",
      targets: [
        {
          expr: `max(pg_stat_archiver_last_archive_age{${ns}} and on (pod) (patroni_primary{${ns}} == 1))`,
          legend: "leader",
        },
      ],
    },
    {
      title: "Redis memory vs maxmemory",
      unit: "bytes",
      targets: [
        { expr: `max(redis_memory_used_bytes{${ns}})`, legend: "used" },
        { expr: `max(redis_memory_max_bytes{${ns}})`, legend: "maxmemory" },
      ],
    },
    {
      title: "Redis AOF status (1 = ok)",
      unit: "short",
      targets: [
        { expr: `min(redis_aof_last_write_status{${ns}})`, legend: "last write" },
        { expr: `min(redis_aof_enabled{${ns}})`, legend: "enabled" },
      ],
    },
  ];
}

/** Grafana dashboard JSON (schema 39) with a Prometheus datasource variable. */
export function dashboardJson(props: MonitoringProps) {
  return {
    title: `n8n (${props.ctx.instance})`,
    uid: `n8n-${props.ctx.instance}`.slice(0, 40),
    schemaVersion: 39,
    editable: false,
    time: { from: "now-6h", to: "now" },
    refresh: "1m",
    tags: ["n8n", "n8n-cluster"],
    templating: {
      list: [{ name: "datasource", type: "datasource", query: "prometheus", label: "Prometheus" }],
    },
    panels: dashboardPanels(props).map((p, i) => ({
      id: i + 1,
      type: "timeseries",
      title: p.title,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own variable syntax, not a template literal.
      datasource: { type: "prometheus", uid: "${datasource}" },
      gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      targets: p.targets.map((t, j) => ({ expr: t.expr, legendFormat: t.legend, refId: String.fromCharCode(65 + j) })),
    })),
  };
}

export function dashboardConfigMap(props: MonitoringProps) {
  return {
    metadata: {
      name: `n8n-${props.ctx.instance}-dashboard`,
      namespace: props.monitoring.dashboardNamespace,
      labels: { ...labels(props.ctx, "monitoring"), ...props.monitoring.dashboardLabels },
    },
    data: { [`n8n-${props.ctx.instance}.json`]: JSON.stringify(dashboardJson(props), null, 2) },
  } satisfies k8s.core.v1.ConfigMapArgs;
}

export class N8nMonitoring extends pulumi.ComponentResource {
  constructor(name: string, props: MonitoringProps, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:monitoring:N8nMonitoring", name, {}, opts);
    const m = props.monitoring;
    const child = childrenOf(this, opts);
    if (m.serviceMonitors) {
      for (const target of scrapeTargets(props)) {
        new k8s.apiextensions.CustomResource(`${name}-${target.name}`, serviceMonitor(props, target), child());
      }
    }
    if (m.prometheusRules) {
      new k8s.apiextensions.CustomResource(`${name}-rules`, prometheusRule(props), child());
    }
    if (m.dashboard) new k8s.core.v1.ConfigMap(`${name}-dashboard`, dashboardConfigMap(props), child());
    this.registerOutputs({});
  }
}
