import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parser } from "@prometheus-io/lezer-promql";
import { beforeAll, describe, expect, it } from "vitest";
import {
  alertGroups,
  dashboardJson,
  dashboardPanels,
  EVENT_DRIVEN_METRICS,
  EXTERNAL_METRICS,
  monitoringProps,
  prometheusRule,
  runbookAnchor,
} from "../components/monitoring";
import { parseStackConfig, type StackConfig } from "../config";
import type { Manifest } from "../render/manifests";
import type { StackRun } from "../render/run";
import { podsOf, ROOT, runProgram, runStackFile } from "./harness";

const base = { domain: "n8n.example.com" };
const cfg = (raw: Record<string, unknown> = {}): StackConfig => parseStackConfig("t", { ...base, ...raw });

/** n8n's own metric names, from the reference lists read off n8n 2.40.7. */
const N8N_METRICS = new Set(
  ["metrics-main-2.40.7.txt", "metrics-worker-2.40.7.txt"].flatMap((f) =>
    readFileSync(join(ROOT, "test", "fixtures", f), "utf8")
      .split("\n")
      .filter((l) => l.startsWith("# TYPE "))
      .map((l) => l.split(" ")[2] as string),
  ),
);

/** Parses PromQL with Prometheus' own grammar; returns syntax errors and the metric names it selects. */
function promql(expr: string): { errors: number[]; metrics: string[] } {
  const errors: number[] = [];
  const metrics: string[] = [];
  parser.parse(expr).iterate({
    enter: (n) => {
      if (n.type.isError) errors.push(n.from);
      if (n.name === "VectorSelector") {
        const id = n.node.getChild("Identifier");
        if (id) metrics.push(expr.slice(id.from, id.to));
      }
    },
  });
  return { errors, metrics };
}

function allExpressions(c: StackConfig): string[] {
  return [
    ...alertGroups(props(c)).flatMap((g) => g.rules.map((r) => r.expr)),
    ...dashboardPanels(props(c)).flatMap((p) => p.targets.map((t) => t.expr)),
  ];
}

const everything = cfg({ postgres: { outbox: { enabled: true } } });
const props = (c: StackConfig) => monitoringProps(c, c.namespace);

describe("PromQL", () => {
  it("the parser catches a broken expression (so the next test can fail)", () => {
    expect(promql("sum(rate(foo[5m]) >").errors.length).toBeGreaterThan(0);
  });

  it("every expression in the rules and the dashboard parses", () => {
    const exprs = allExpressions(everything);
    expect(exprs.length).toBeGreaterThan(25);
    for (const e of exprs) expect(promql(e).errors, e).toEqual([]);
  });

  it("every n8n metric used is one n8n 2.40.7 exposes (or is documented as event-driven)", () => {
    const used = allExpressions(everything).flatMap((e) => promql(e).metrics);
    const n8n = used.filter((m) => m.startsWith("n8n_") && !m.startsWith("n8n_outbox_"));
    expect(n8n.length).toBeGreaterThan(5);
    for (const m of n8n) {
      const name = m.replace(/_(bucket|sum|count)$/, "");
      expect(N8N_METRICS.has(name) || EVENT_DRIVEN_METRICS.includes(name), m).toBe(true);
    }
    expect(N8N_METRICS.has("n8n_executions_failed_total")).toBe(false);
    expect(used).not.toContain("n8n_queue_length");
  });

  it("every other metric used is declared with its source", () => {
    const used = allExpressions(everything).flatMap((e) => promql(e).metrics);
    for (const m of used.filter((x) => !x.startsWith("n8n_") || x.startsWith("n8n_outbox_"))) {
      expect(Object.keys(EXTERNAL_METRICS), m).toContain(m);
    }
  });

  it("every expression is scoped to the stack's namespace", () => {
    for (const e of allExpressions(everything)) expect(e, e).toContain('namespace="n8n"');
  });
});

describe("alerts", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const headings = new Set(
    [...readme.matchAll(/^#{2,4} (.+)$/gm)].map((m) =>
      (m[1] as string)
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, "")
        .replace(/ /g, "-"),
    ),
  );

  it("each has a severity, summary, description and a runbook anchor that exists in the README", () => {
    const rule = prometheusRule(props(everything));
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(16);
    for (const r of rules) {
      expect(["critical", "warning"]).toContain(r.labels.severity);
      expect(r.annotations.summary.length).toBeGreaterThan(5);
      expect(r.annotations.description.length).toBeGreaterThan(5);
      const anchor = r.annotations.runbook_url.split("#")[1] as string;
      expect(anchor).toBe(runbookAnchor(r.alert));
      expect(headings, `README heading for ${r.alert}`).toContain(anchor);
    }
  });

  it("covers the production alert thresholds (failed executions, backlog, memory, latency), taken from config", () => {
    const c = cfg({
      monitoring: { thresholds: { failedExecutionsPerMinute: 7, queueWaiting: 250, apiP95Seconds: 0.3 } },
    });
    const byName = Object.fromEntries(alertGroups(props(c)).flatMap((g) => g.rules.map((r) => [r.alert, r.expr])));
    expect(byName.N8nFailedExecutions).toMatch(/\* 60 > 7$/);
    expect(byName.N8nQueueBacklog).toMatch(/n8n_scaling_mode_queue_jobs_waiting.* > 250$/);
    expect(byName.N8nApiLatencyHigh).toMatch(
      /histogram_quantile\(0\.95, .*n8n_http_request_duration_seconds_bucket.* > 0\.3$/,
    );
    expect(byName.ContainerMemoryHigh).toMatch(/> 80$/);
    for (const name of [
      "PatroniNoLeader",
      "PostgresReplicationLag",
      "PostgresWalArchiveFailing",
      "PostgresWalArchiveStale",
      "RedisAofWriteFailing",
      "RedisMemoryNearMax",
      "PodRestarting",
      "N8nWorkersAtMaximum",
    ]) {
      expect(byName, name).toHaveProperty(name);
    }
  });

  it("outbox alerts exist only with the outbox", () => {
    const names = (c: StackConfig) => alertGroups(props(c)).flatMap((g) => g.rules.map((r) => r.alert));
    expect(names(cfg())).not.toContain("OutboxBacklog");
    expect(names(everything)).toEqual(
      expect.arrayContaining(["OutboxOldestPendingStale", "OutboxBacklog", "OutboxFailedEvents"]),
    );
  });
});

describe("dashboard", () => {
  it("has the R4 panels, each with a query", () => {
    const d = dashboardJson(props(cfg()));
    const titles = d.panels.map((p) => p.title);
    for (const t of [
      "Queue",
      "Executions per second",
      "Execution duration p95",
      "API latency p95",
      "Workers",
      "connections",
      "Replication lag",
      "archived",
      "Redis memory",
      "AOF",
    ]) {
      expect(
        titles.some((x) => x.includes(t)),
        t,
      ).toBe(true);
    }
    for (const p of d.panels) expect(p.targets.length).toBeGreaterThan(0);
  });
});

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

function checkServiceMonitors(run: StackRun, namespace: string) {
  const services = run.manifests.filter((m) => m.kind === "Service");
  const monitors = run.manifests.filter((m) => m.kind === "ServiceMonitor");
  expect(monitors.length).toBeGreaterThanOrEqual(5);
  for (const sm of monitors) {
    const spec = sm.spec as {
      selector: { matchLabels: Record<string, string> };
      namespaceSelector: { matchNames: string[] };
      endpoints: { port: string; path: string }[];
    };
    expect(spec.namespaceSelector.matchNames).toEqual([namespace]);
    const selected = services.filter(
      (s) =>
        s.metadata.namespace === namespace &&
        matches(spec.selector.matchLabels, (s.metadata.labels ?? {}) as Record<string, string>),
    );
    expect(
      selected.map((s) => s.metadata.name),
      sm.metadata.name,
    ).toHaveLength(1);
    const service = selected[0] as Manifest;
    const ports = (service.spec as { ports: { name: string; targetPort: string }[] }).ports;
    for (const ep of spec.endpoints) {
      const port = ports.find((p) => p.name === ep.port);
      expect(port, `${sm.metadata.name} port ${ep.port}`).toBeDefined();
      // The port the Service names must exist on the pods it selects.
      const selector = (service.spec as { selector: Record<string, string> }).selector;
      const { "spilo-role": _r, ...staticSelector } = selector;
      const pod = podsOf(run.manifests).find((p) => matches(staticSelector, p.labels));
      const containerPorts = (pod?.spec.containers ?? []).flatMap((c) =>
        ((c.ports ?? []) as { name: string }[]).map((x) => x.name),
      );
      expect(containerPorts, sm.metadata.name).toContain(port?.targetPort);
    }
  }
}

describe.each(["staging", "prod"])("stack %s: monitoring objects", (stack) => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStackFile(stack);
  });

  it("every ServiceMonitor selects one existing Service, by label, and a named port its pods have", () => {
    checkServiceMonitors(run, `n8n-${stack}`);
  });

  it("ServiceMonitors and rules carry the Prometheus selector labels; the dashboard the sidecar label", () => {
    for (const m of run.manifests.filter((x) => x.kind === "ServiceMonitor" || x.kind === "PrometheusRule")) {
      expect(m.metadata.labels).toMatchObject({ release: "kube-prometheus-stack" });
    }
    const dashboard = run.manifests.find((m) => m.kind === "ConfigMap" && m.metadata.name === `n8n-${stack}-dashboard`);
    expect(dashboard?.metadata.labels).toMatchObject({ grafana_dashboard: "1" });
    const json = JSON.parse(Object.values(dashboard?.data as Record<string, string>)[0] as string);
    expect(json.panels.length).toBeGreaterThanOrEqual(10);
  });

  it("every n8n process has metrics on, with queue metrics", () => {
    for (const p of podsOf(run.manifests).filter((x) => x.labels["app.kubernetes.io/name"] === "n8n")) {
      const env = p.spec.containers.find((c) => c.name === "n8n")?.env ?? [];
      expect(env.find((e) => e.name === "N8N_METRICS")?.value).toBe("true");
      expect(env.find((e) => e.name === "N8N_METRICS_INCLUDE_QUEUE_METRICS")?.value).toBe("true");
    }
  });
});

describe("switches", () => {
  it("monitoring objects can be turned off one by one", async () => {
    const run = await runProgram("nomon", {
      ...base,
      monitoring: { serviceMonitors: false, prometheusRules: false, dashboard: false },
    });
    const kinds = run.manifests.map((m) => m.kind);
    expect(kinds).not.toContain("ServiceMonitor");
    expect(kinds).not.toContain("PrometheusRule");
    expect(run.manifests.some((m) => m.metadata.name.endsWith("-dashboard"))).toBe(false);
  });
});
