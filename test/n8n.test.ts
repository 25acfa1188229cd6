import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { NAMES, PORTS, SECRETS } from "../components/kubernetes/names";
import { n8nProps } from "../components/n8n";
import { type EnvVar, type N8nRole, n8nEnv, PINNED_FUTURE_DEFAULTS, runnerEnv } from "../components/n8n/env";
import {
  kedaScaledObject,
  n8nContainer,
  n8nDeployment,
  n8nHpa,
  n8nPodTemplate,
  PRE_STOP_SECONDS,
  ROLES,
  runnerSidecar,
  terminationGracePeriodSeconds,
  waitingListKey,
} from "../components/n8n/workload";
import { parseStackConfig, type StackConfig } from "../config";
import { readsEnv } from "../config/env-names";
import type { StackRun } from "../render/run";
import { configErrorText, findManifest, type PodContainer, podsOf, ROOT, runProgram, runStackFile } from "./harness";

const FIXTURE = join(ROOT, "config", "env-names", "n8n-2.40.7.txt");
const ENV_NAMES = new Set(readFileSync(FIXTURE, "utf8").split("\n").filter(Boolean));
const base = { domain: "n8n.example.com" };
const cfg = (raw: Record<string, unknown> = {}): StackConfig => parseStackConfig("t", { ...base, ...raw });
/** The n8n part's props of a config, in namespace "ns". */
const np = (c: StackConfig) => n8nProps(c, "ns");
const ROLE_LIST: N8nRole[] = ["main", "worker", "webhook"];

const envMap = (env: EnvVar[]) => new Map(env.map((e) => [e.name, e]));
const plain = (env: EnvVar[], name: string) => {
  const e = envMap(env).get(name);
  return e && "value" in e ? e.value : undefined;
};

/** Names that carry credentials; they may only come from a Secret. */
const SECRET_LIKE = /(PASSWORD|TOKEN|SECRET|ENCRYPTION_KEY)$/;

describe("reference data", () => {
  it("the fixture copy equals the team's original when it is beside the repository", () => {
    const original = join(ROOT, "..", "shared", "n8n", "env-names-2.40.7.txt");
    if (!existsSync(original)) return;
    expect(readFileSync(FIXTURE, "utf8")).toBe(readFileSync(original, "utf8"));
  });
});

describe("n8nEnv (pure)", () => {
  const c = cfg({ size: "medium" });

  it.each(ROLE_LIST)("%s: every name is one n8n 2.40.7 reads, each set once", (role) => {
    const names = n8nEnv(np(c), role).map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    // n8n's list, or <NAME>_FILE of a name on it (@n8n/config reads the value from that file).
    for (const n of names) expect(readsEnv("n8n", n), n).toBe(true);
  });

  it("the runner sidecar's env names are n8n's too", () => {
    for (const e of runnerEnv(np(c))) expect(ENV_NAMES, e.name).toContain(e.name);
  });

  it("neither the often-seen wrong names nor the deprecated runner switch are set", () => {
    for (const role of ROLE_LIST) {
      const names = n8nEnv(np(c), role).map((e) => e.name);
      for (const wrong of ["N8N_METRICS_PORT", "ENCRYPTION_KEY", "N8N_RUNNERS_ENABLED", "WEBHOOK_URL"]) {
        expect(names).not.toContain(wrong);
      }
    }
  });

  it("credentials only come from Secrets, and the encryption key from the same one everywhere", () => {
    const refs = new Set<string>();
    for (const role of ROLE_LIST) {
      for (const e of n8nEnv(np(c), role)) {
        if (SECRET_LIKE.test(e.name)) expect("valueFrom" in e, e.name).toBe(true);
        if (e.name === "N8N_ENCRYPTION_KEY" && "valueFrom" in e) refs.add(JSON.stringify(e.valueFrom));
      }
    }
    expect([...refs]).toEqual([
      JSON.stringify({ secretKeyRef: { name: SECRETS.n8n.name, key: SECRETS.n8n.keys.encryptionKey } }),
    ]);
  });

  it("queue mode against the Postgres primary and Redis, with the role's pool", () => {
    for (const role of ROLE_LIST) {
      const env = n8nEnv(np(c), role);
      expect(plain(env, "EXECUTIONS_MODE")).toBe("queue");
      expect(plain(env, "DB_TYPE")).toBe("postgresdb");
      expect(plain(env, "DB_POSTGRESDB_HOST")).toBe(NAMES.postgres);
      expect(plain(env, "DB_POSTGRESDB_USER")).toBe("n8n");
      expect(plain(env, "QUEUE_BULL_REDIS_HOST")).toBe(NAMES.redis);
      expect(plain(env, "N8N_DEFAULT_BINARY_DATA_MODE")).toBe("database");
      expect(plain(env, "N8N_DIAGNOSTICS_ENABLED")).toBe("false");
      expect(plain(env, "N8N_METRICS")).toBe("true");
      expect(plain(env, "N8N_METRICS_INCLUDE_QUEUE_METRICS")).toBe("true");
      for (const [k, v] of Object.entries(PINNED_FUTURE_DEFAULTS)) expect(plain(env, k)).toBe(v);
    }
    expect(plain(n8nEnv(np(c), "main"), "DB_POSTGRESDB_POOL_SIZE")).toBe(String(c.main.dbPoolSize));
    expect(plain(n8nEnv(np(c), "worker"), "DB_POSTGRESDB_POOL_SIZE")).toBe(String(c.workers.dbPoolSize));
    expect(plain(n8nEnv(np(c), "webhook"), "DB_POSTGRESDB_POOL_SIZE")).toBe(String(c.webhooks.dbPoolSize));
  });

  it("main: URLs from the domain, one proxy hop, manual runs offloaded, production webhooks off with processors", () => {
    const env = n8nEnv(np(c), "main");
    expect(plain(env, "N8N_HOST")).toBe("n8n.example.com");
    expect(plain(env, "N8N_PROTOCOL")).toBe("https");
    expect(plain(env, "N8N_PROXY_HOPS")).toBe("1");
    expect(plain(env, "N8N_WEBHOOK_URL")).toBe("https://n8n.example.com/");
    expect(plain(env, "N8N_EDITOR_BASE_URL")).toBe("https://n8n.example.com/");
    expect(plain(env, "OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS")).toBe("true");
    expect(plain(env, "N8N_DISABLE_PRODUCTION_MAIN_PROCESS")).toBe("true");
    expect(
      plain(n8nEnv(np(cfg({ webhooks: { enabled: false } })), "main"), "N8N_DISABLE_PRODUCTION_MAIN_PROCESS"),
    ).toBe(undefined);
    expect(plain(env, "N8N_MULTI_MAIN_SETUP_ENABLED")).toBeUndefined();
    expect(
      plain(
        n8nEnv(np(cfg({ n8n: { multiMain: true, license: { name: "n8n-license", key: "activation-key" } } })), "main"),
        "N8N_MULTI_MAIN_SETUP_ENABLED",
      ),
    ).toBe("true");
  });

  it("worker: health server on the n8n port", () => {
    const env = n8nEnv(np(c), "worker");
    expect(plain(env, "QUEUE_HEALTH_CHECK_ACTIVE")).toBe("true");
    expect(plain(env, "QUEUE_HEALTH_CHECK_PORT")).toBe(String(PORTS.n8n));
    expect(plain(env, "N8N_PROXY_HOPS")).toBeUndefined();
  });

  it("tuned for throughput (bench/RESULTS.md): compiled expression runtime reused, no per-query SET", () => {
    for (const role of ROLE_LIST) {
      expect(plain(n8nEnv(np(c), role), "N8N_EXPRESSION_ENGINE_COMPILE_CACHE")).toBe("true");
      // 0 turns n8n's SET off; the timeout itself comes from the app role (see the bootstrap Job).
      expect(plain(n8nEnv(np(c), role), "DB_POSTGRESDB_STATEMENT_TIMEOUT")).toBe("0");
    }
  });

  it("external runners on loopback with the shared token; internal mode when sidecars are off", () => {
    const env = n8nEnv(np(c), "worker");
    expect(plain(env, "N8N_RUNNERS_MODE")).toBe("external");
    expect(plain(env, "N8N_RUNNERS_BROKER_LISTEN_ADDRESS")).toBe("127.0.0.1");
    const token = envMap(env).get("N8N_RUNNERS_AUTH_TOKEN");
    const sidecarToken = envMap(runnerEnv(np(c))).get("N8N_RUNNERS_AUTH_TOKEN");
    expect(token).toEqual(sidecarToken);
    expect(plain(runnerEnv(np(c)), "N8N_RUNNERS_TASK_BROKER_URI")).toBe(`http://127.0.0.1:${PORTS.runnerBroker}`);
    const off = n8nEnv(np(cfg({ runners: { enabled: false } })), "worker");
    expect(plain(off, "N8N_RUNNERS_MODE")).toBe("internal");
    expect(envMap(off).has("N8N_RUNNERS_AUTH_TOKEN")).toBe(false);
  });

  it("exact env of each role", () => {
    const names = (role: N8nRole) => n8nEnv(np(c), role).map((e) => e.name);
    const common = [
      "EXECUTIONS_MODE",
      "DB_TYPE",
      "DB_POSTGRESDB_HOST",
      "DB_POSTGRESDB_PORT",
      "DB_POSTGRESDB_DATABASE",
      "DB_POSTGRESDB_USER",
      "DB_POSTGRESDB_PASSWORD",
      "DB_POSTGRESDB_POOL_SIZE",
      "DB_POSTGRESDB_STATEMENT_TIMEOUT",
      "DB_RECOVERY_BACKOFF_MAX_MS",
      "DB_POSTGRESDB_SSL_ENABLED",
      "DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED",
      "DB_POSTGRESDB_SSL_CA_FILE",
      "QUEUE_BULL_REDIS_HOST",
      "QUEUE_BULL_REDIS_PORT",
      "QUEUE_BULL_REDIS_DB",
      "QUEUE_BULL_REDIS_PASSWORD",
      "QUEUE_BULL_PREFIX",
      "QUEUE_BULL_REDIS_TIMEOUT_THRESHOLD",
      "N8N_ENCRYPTION_KEY",
      "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS",
      "N8N_PORT",
      "N8N_HOST",
      "N8N_PROTOCOL",
      "N8N_WEBHOOK_URL",
      "N8N_EDITOR_BASE_URL",
      "GENERIC_TIMEZONE",
      "N8N_LOG_LEVEL",
      "N8N_LOG_FORMAT",
      "N8N_LOG_OUTPUT",
      "N8N_METRICS",
      "N8N_METRICS_INCLUDE_DEFAULT_METRICS",
      "N8N_METRICS_INCLUDE_QUEUE_METRICS",
      "N8N_METRICS_INCLUDE_API_ENDPOINTS",
      "N8N_METRICS_INCLUDE_WORKFLOW_EXECUTION_DURATION",
      "N8N_METRICS_INCLUDE_MESSAGE_EVENT_BUS_METRICS",
      "N8N_DIAGNOSTICS_ENABLED",
      "N8N_VERSION_NOTIFICATIONS_ENABLED",
      "N8N_SSRF_PROTECTION_ENABLED",
      "N8N_GRACEFUL_SHUTDOWN_TIMEOUT",
      "N8N_DEFAULT_BINARY_DATA_MODE",
      "EXECUTIONS_DATA_PRUNE",
      "EXECUTIONS_DATA_MAX_AGE",
      "EXECUTIONS_DATA_PRUNE_MAX_COUNT",
      "EXECUTIONS_DATA_SAVE_ON_SUCCESS",
      "EXECUTIONS_DATA_SAVE_ON_ERROR",
      "EXECUTIONS_DATA_SAVE_MANUAL_EXECUTIONS",
      "EXECUTIONS_TIMEOUT",
      "EXECUTIONS_TIMEOUT_MAX",
      "N8N_RUNNERS_MODE",
      "N8N_RUNNERS_AUTH_TOKEN",
      "N8N_RUNNERS_BROKER_LISTEN_ADDRESS",
      "N8N_RUNNERS_BROKER_PORT",
      "N8N_RUNNERS_TASK_TIMEOUT",
      "N8N_EXPRESSION_ENGINE_COMPILE_CACHE",
      "N8N_UNVERIFIED_PACKAGES_ENABLED",
      "N8N_COMPRESSION_NODE_MAX_DECOMPRESSED_SIZE_BYTES",
      "N8N_COMPRESSION_NODE_MAX_ZIP_ENTRIES",
    ];
    expect(names("worker")).toEqual([...common, "QUEUE_HEALTH_CHECK_ACTIVE", "QUEUE_HEALTH_CHECK_PORT"]);
    expect(names("webhook")).toEqual([...common, "N8N_PROXY_HOPS"]);
    expect(names("main")).toEqual([
      ...common,
      "N8N_PROXY_HOPS",
      "OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS",
      "N8N_EXECUTIONS_QUEUE_RECOVERY_INTERVAL",
      "N8N_DISABLE_PRODUCTION_MAIN_PROCESS",
      "N8N_INSTANCE_OWNER_MANAGED_BY_ENV",
      "N8N_INSTANCE_OWNER_EMAIL",
      "N8N_INSTANCE_OWNER_FIRST_NAME",
      "N8N_INSTANCE_OWNER_LAST_NAME",
      "N8N_INSTANCE_OWNER_PASSWORD_HASH",
    ]);
    // Main sets up the owner from the first start: owner@<domain>, the hash from the Secret.
    const main = n8nEnv(np(c), "main");
    expect(main.find((e) => e.name === "N8N_INSTANCE_OWNER_EMAIL")).toEqual({
      name: "N8N_INSTANCE_OWNER_EMAIL",
      value: "owner@n8n.example.com",
    });
    expect(main.find((e) => e.name === "N8N_INSTANCE_OWNER_PASSWORD_HASH")).toEqual({
      name: "N8N_INSTANCE_OWNER_PASSWORD_HASH",
      valueFrom: { secretKeyRef: { name: SECRETS.n8n.name, key: SECRETS.n8n.keys.ownerPasswordHash } },
    });
    const unmanaged = n8nEnv(np(cfg({ n8n: { owner: { managedByEnv: false } } })), "main").map((e) => e.name);
    expect(unmanaged.filter((n) => n.startsWith("N8N_INSTANCE_OWNER_"))).toEqual([]);
    expect(runnerEnv(np(c)).map((e) => e.name)).toEqual([
      "N8N_RUNNERS_TASK_BROKER_URI",
      "N8N_RUNNERS_AUTH_TOKEN",
      "N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT",
      "N8N_RUNNERS_MAX_CONCURRENCY",
      "N8N_RUNNERS_TASK_TIMEOUT",
      "GENERIC_TIMEZONE",
    ]);
  });
});

describe("pod and workload builders (pure)", () => {
  const c = cfg({ size: "medium" });

  it.each(ROLE_LIST)("%s: process args, probes on the n8n port, preStop pause", (role) => {
    const container = n8nContainer(np(c), role);
    expect(container.args).toEqual(ROLES[role].args(np(c)));
    expect(container.ports).toEqual([{ name: "http", containerPort: 5678 }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/healthz/readiness", port: "http" });
    expect(container.startupProbe.httpGet.path).toBe("/healthz");
    expect(container.lifecycle.preStop.sleep.seconds).toBe(PRE_STOP_SECONDS);
    expect(container.image).toBe("docker.io/n8nio/n8n:2.40.7");
  });

  it("workers run `n8n worker --concurrency=N`", () => {
    expect(n8nContainer(np(cfg({ workers: { concurrency: 7 } })), "worker").args).toEqual([
      "worker",
      "--concurrency=7",
    ]);
    expect(n8nContainer(np(c), "webhook").args).toEqual(["webhook"]);
    expect(n8nContainer(np(c), "main").args).toEqual(["start"]);
  });

  it("the runner sidecar: same version, native sidecar, health probe on 5680, own resources", () => {
    const r = runnerSidecar(np(c));
    expect(r.image).toBe("docker.io/n8nio/runners:2.40.7");
    expect(r.restartPolicy).toBe("Always");
    expect(r.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "runner-health" });
    expect(r.ports).toEqual([{ name: "runner-health", containerPort: PORTS.runnerHealth }]);
    expect(r.resources).toEqual(c.runners.resources);
  });

  it.each(ROLE_LIST)("%s: restricted pod security, read-only root, every mount backed by a volume", (role) => {
    const t = n8nPodTemplate(np(c), role);
    expect(t.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(t.spec.automountServiceAccountToken).toBe(false);
    expect(t.spec.serviceAccountName).toBe(NAMES.serviceAccount);
    expect(t.spec.enableServiceLinks).toBe(false);
    const containers = [...(t.spec.initContainers ?? []), ...t.spec.containers];
    expect(containers.map((x) => x.name)).toEqual(["task-runners", "n8n"]);
    const volumes = new Set(t.spec.volumes.map((v) => v.name));
    for (const x of containers) {
      expect(x.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
      for (const m of x.volumeMounts) expect(volumes, m.name).toContain(m.name);
      expect(x.resources.requests.cpu && x.resources.limits.memory).toBeTruthy();
    }
    const n8nMounts = t.spec.containers[0]?.volumeMounts.map((m) => m.mountPath);
    // Scratch space, and the namespace CA that signed PostgreSQL's certificate (read-only).
    expect(n8nMounts).toEqual(["/home/node/.n8n", "/home/node/.cache", "/tmp", "/etc/n8n/ca/postgres"]);
  });

  it("no sidecar and no runner volumes when runners are off", () => {
    const t = n8nPodTemplate(np(cfg({ runners: { enabled: false } })), "worker");
    expect(t.spec.initContainers).toBeUndefined();
    expect(t.spec.volumes.map((v) => v.name)).toEqual(["n8n-home", "n8n-cache", "tmp", "postgres-ca"]);
  });

  it("grace period covers n8n's graceful shutdown plus the preStop pause", () => {
    const c2 = cfg({ n8n: { gracefulShutdownSeconds: 120 } });
    for (const role of ["main", "webhook"] as const) {
      const t = n8nPodTemplate(np(c2), role);
      expect(t.spec.terminationGracePeriodSeconds).toBe(terminationGracePeriodSeconds(np(c2), role));
      expect(t.spec.terminationGracePeriodSeconds).toBeGreaterThan(120 + PRE_STOP_SECONDS);
      expect(plain(t.spec.containers[0]?.env as EnvVar[], "N8N_GRACEFUL_SHUTDOWN_TIMEOUT")).toBe("120");
    }
  });

  it("a leaving worker waits for the longest execution a workflow may run, then saves (test:faults scenario 1)", () => {
    const c2 = cfg({
      n8n: { gracefulShutdownSeconds: 30, executions: { maxTimeoutSeconds: 900, timeoutSeconds: 600 } },
    });
    const t = n8nPodTemplate(np(c2), "worker");
    const env = t.spec.containers[0]?.env as EnvVar[];
    expect(plain(env, "EXECUTIONS_TIMEOUT_MAX")).toBe("900");
    expect(plain(env, "N8N_GRACEFUL_SHUTDOWN_TIMEOUT")).toBe("930");
    expect(t.spec.terminationGracePeriodSeconds).toBeGreaterThan(930 + PRE_STOP_SECONDS);
  });

  it("workers and webhook processors spread across nodes and zones; main does not", () => {
    for (const role of ["worker", "webhook"] as const) {
      const spread = n8nPodTemplate(np(c), role).spec.topologySpreadConstraints ?? [];
      expect(spread.map((s) => s.topologyKey)).toEqual(["kubernetes.io/hostname", "topology.kubernetes.io/zone"]);
      expect(spread[0]?.labelSelector.matchLabels["app.kubernetes.io/component"]).toBe(role);
    }
    expect(n8nPodTemplate(np(c), "main").spec.topologySpreadConstraints).toBeUndefined();
  });

  it("workers can be put on a spot pool with a PriorityClass", () => {
    const spot = cfg({
      workers: {
        nodeSelector: { "node.kubernetes.io/lifecycle": "spot" },
        tolerations: [{ key: "spot", operator: "Exists", effect: "NoSchedule" }],
        priorityClassName: "n8n-workers",
      },
    });
    const spec = n8nPodTemplate(np(spot), "worker").spec;
    expect(spec.nodeSelector).toEqual({ "node.kubernetes.io/lifecycle": "spot" });
    expect(spec.tolerations).toEqual([{ key: "spot", operator: "Exists", effect: "NoSchedule" }]);
    expect(spec.priorityClassName).toBe("n8n-workers");
    expect(n8nPodTemplate(np(spot), "main").spec.nodeSelector).toBeUndefined();
  });

  it("main never overlaps itself; with multi-main it rolls", () => {
    expect(n8nDeployment(np(c), "main").spec.strategy).toEqual({ type: "Recreate" });
    expect(n8nDeployment(np(c), "main").spec.replicas).toBe(1);
    const multi = cfg({
      n8n: { multiMain: true, license: { name: "n8n-license", key: "activation-key" } },
      main: { replicas: 2 },
    });
    expect(n8nDeployment(np(multi), "main").spec.strategy.type).toBe("RollingUpdate");
    expect(n8nDeployment(np(multi), "main").spec.replicas).toBe(2);
  });

  it("the worker HPA: CPU and memory, fast up, slow one-by-one down", () => {
    const hpa = n8nHpa(np(c), "worker");
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: NAMES.worker });
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([c.workers.minReplicas, c.workers.maxReplicas]);
    expect(hpa.spec.metrics.map((m) => m.type)).toEqual(["Resource", "Resource"]);
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(600);
    expect(hpa.spec.behavior.scaleDown.policies).toEqual([{ type: "Pods", value: 1, periodSeconds: 120 }]);
  });

  it("queue-length scaling: an External metric, or a KEDA ScaledObject on the Bull wait list", () => {
    const ext = n8nHpa(np(cfg({ workers: { queueScaling: "external-metric", queueTargetPerWorker: 15 } })), "worker");
    const external = ext.spec.metrics.find((m) => m.type === "External");
    expect(external).toMatchObject({
      external: { metric: { name: "n8n_scaling_mode_queue_jobs_waiting" }, target: { averageValue: "15" } },
    });
    const keda = cfg({ workers: { queueScaling: "keda" }, n8n: { queuePrefix: "q" } });
    expect(waitingListKey(np(keda))).toBe("q:jobs:wait");
    const so = kedaScaledObject(np(keda));
    expect(so.spec.scaleTargetRef.name).toBe(NAMES.worker);
    expect(so.spec.triggers[0]?.metadata).toMatchObject({ listName: "q:jobs:wait" });
    expect(so.spec.triggers.map((t) => t.type)).toEqual(["redis", "cpu", "memory"]);
  });
});

const N8N_DEPLOYMENTS = new Set(Object.values(ROLES).map((r) => r.name));

/** The pods of the n8n Deployments (the harness's reader, limited to them). */
const n8nPods = (run: StackRun) =>
  podsOf(run.manifests).filter((p) => p.owner.kind === "Deployment" && N8N_DEPLOYMENTS.has(p.owner.metadata.name));

describe.each(["staging", "prod"])("stack %s: n8n workloads", (stack) => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStackFile(stack);
  });
  const byKind = (kind: string) => run.manifests.filter((m) => m.kind === kind);

  it("renders main, workers and (prod) webhook processors", () => {
    const deployments = byKind("Deployment")
      .map((d) => d.metadata.name)
      .sort();
    expect(deployments).toEqual(
      stack === "prod" ? [NAMES.main, NAMES.webhook, NAMES.worker] : [NAMES.main, NAMES.worker],
    );
    expect((findManifest(run, "Deployment", NAMES.main).spec as { replicas: number }).replicas).toBe(1);
  });

  it("every env name on an n8n container is one n8n 2.40.7 reads; credentials only by reference", () => {
    for (const p of n8nPods(run)) {
      for (const c of [...(p.spec.initContainers ?? []), ...p.spec.containers]) {
        for (const e of c.env ?? []) {
          expect(readsEnv("n8n", e.name), `${c.name}: ${e.name}`).toBe(true);
          if (SECRET_LIKE.test(e.name)) expect("valueFrom" in e, e.name).toBe(true);
        }
      }
    }
  });

  it("the runner token is shared between each n8n container and its sidecar", () => {
    for (const p of n8nPods(run)) {
      const token = (c?: PodContainer) => JSON.stringify(c?.env?.find((e) => e.name === "N8N_RUNNERS_AUTH_TOKEN"));
      expect(token(p.spec.initContainers?.[0]), p.owner.metadata.name).toBe(token(p.spec.containers[0]));
      expect(token(p.spec.containers[0])).toContain(SECRETS.n8n.keys.runnersAuthToken);
    }
  });

  it("every HPA targets a rendered Deployment; workers are autoscaled", () => {
    const deployments = new Set(byKind("Deployment").map((d) => d.metadata.name));
    const targets = byKind("HorizontalPodAutoscaler").map(
      (h) => (h.spec as { scaleTargetRef: { kind: string; name: string } }).scaleTargetRef,
    );
    expect(targets.map((t) => t.name)).toContain(NAMES.worker);
    for (const t of targets) {
      expect(t.kind).toBe("Deployment");
      expect(deployments).toContain(t.name);
    }
    expect(targets.map((t) => t.name)).not.toContain(NAMES.main);
  });

  it("the n8n ServiceAccount mounts no token", () => {
    const sa = byKind("ServiceAccount").find((s) => s.metadata.name === NAMES.serviceAccount);
    expect(sa?.automountServiceAccountToken).toBe(false);
  });
});

describe("variants under mocks", () => {
  it("KEDA mode renders a ScaledObject and TriggerAuthentication instead of the worker HPA", async () => {
    const run = await runProgram("keda", { ...base, workers: { queueScaling: "keda" } });
    const kinds = run.manifests.map((m) => `${m.kind}/${m.metadata.name}`);
    expect(kinds).toContain(`ScaledObject/${NAMES.worker}`);
    expect(kinds).toContain(`TriggerAuthentication/${NAMES.worker}-redis`);
    expect(kinds).not.toContain(`HorizontalPodAutoscaler/${NAMES.worker}`);
    const so = run.manifests.find((m) => m.kind === "ScaledObject");
    expect(so?.apiVersion).toBe("keda.sh/v1alpha1");
  });

  it("multi-main renders two mains with a rolling update", async () => {
    const run = await runProgram("mm", {
      ...base,
      n8n: { multiMain: true, license: { name: "n8n-license", key: "activation-key" } },
      main: { replicas: 2 },
    });
    const main = run.manifests.find((m) => m.kind === "Deployment" && m.metadata.name === NAMES.main);
    expect(main?.spec).toMatchObject({ replicas: 2, strategy: { type: "RollingUpdate" } });
  });

  it("autoscaled Deployments leave spec.replicas to their autoscaler; main keeps its count", async () => {
    const run = await runStackFile("prod");
    const ignored = Object.fromEntries(
      run.resources
        .filter((r) => r.type === "kubernetes:apps/v1:Deployment")
        .map((r) => [(r.inputs.metadata as { name: string }).name, r.ignoreChanges]),
    );
    expect(ignored).toEqual({
      [NAMES.main]: [],
      [NAMES.worker]: ["spec.replicas"],
      [NAMES.webhook]: ["spec.replicas"],
    });
  });
});

describe("escape hatches", () => {
  const secretRef = { name: "smtp", key: "password" };
  const extras = {
    workers: {
      extraEnv: [
        { name: "N8N_SMTP_HOST", value: "smtp.example.com" },
        { name: "N8N_SMTP_PASS", secretKeyRef: secretRef },
        { name: "N8N_SMTP_USER", configMapKeyRef: { name: "smtp", key: "user" } },
      ],
      envFrom: [{ secretRef: "n8n-extra" }],
      extraVolumes: [{ name: "ca", configMap: { name: "corporate-ca" } }],
      extraVolumeMounts: [{ name: "ca", mountPath: "/etc/ssl/corporate", readOnly: true }],
      affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } },
    },
    runners: {
      extraEnv: [{ name: "NODE_FUNCTION_ALLOW_EXTERNAL", value: "lodash" }],
      extraVolumes: [{ name: "runner-config", configMap: { name: "runner-config" } }],
      extraVolumeMounts: [{ name: "runner-config", mountPath: "/etc/n8n-task-runners.json", subPath: "config.json" }],
    },
  };
  const c = cfg(extras);

  it("adds extraEnv after the program's env, as values or Secret/ConfigMap references", () => {
    const env = n8nContainer(np(c), "worker").env;
    const ours = n8nEnv(np(c), "worker").length;
    expect(env.slice(0, ours)).toEqual(n8nEnv(np(c), "worker"));
    expect(env.slice(ours)).toEqual([
      { name: "N8N_SMTP_HOST", value: "smtp.example.com" },
      { name: "N8N_SMTP_PASS", valueFrom: { secretKeyRef: secretRef } },
      { name: "N8N_SMTP_USER", valueFrom: { configMapKeyRef: { name: "smtp", key: "user" } } },
    ]);
    expect(n8nContainer(np(c), "worker").envFrom).toEqual([{ secretRef: { name: "n8n-extra" } }]);
  });

  it("mounts extra volumes, sets raw affinity, and leaves the other roles alone", () => {
    const pod = n8nPodTemplate(np(c), "worker").spec;
    expect(pod.volumes).toContainEqual({ name: "ca", configMap: { name: "corporate-ca" } });
    expect(pod.containers[0]?.volumeMounts).toContainEqual({
      name: "ca",
      mountPath: "/etc/ssl/corporate",
      readOnly: true,
    });
    expect(pod.affinity).toEqual(extras.workers.affinity);
    // Worker extras stay on workers: main's container is what it is without them.
    expect(n8nContainer(np(c), "main")).toEqual(n8nContainer(np(cfg()), "main"));
    expect(n8nPodTemplate(np(c), "main").spec).not.toHaveProperty("affinity");
  });

  it("gives the task-runner sidecar its own extras in every pod", () => {
    const runner = runnerSidecar(np(c));
    expect(runner.env.at(-1)).toEqual({ name: "NODE_FUNCTION_ALLOW_EXTERNAL", value: "lodash" });
    expect(runner.volumeMounts).toContainEqual(extras.runners.extraVolumeMounts[0]);
    for (const role of ["main", "worker"] as const) {
      expect(n8nPodTemplate(np(c), role).spec.volumes).toContainEqual(extras.runners.extraVolumes[0]);
    }
  });

  it("names the pinned n8n cannot read pass with allowUnknownEnv, and nothing changes without extras", () => {
    const forked = cfg({ main: { allowUnknownEnv: true, extraEnv: [{ name: "MY_FORK_SETTING", value: "1" }] } });
    expect(n8nContainer(np(forked), "main").env.at(-1)).toEqual({ name: "MY_FORK_SETTING", value: "1" });
    const plain = n8nContainer(np(cfg()), "main");
    expect(plain).not.toHaveProperty("envFrom");
    expect(plain.env).toEqual(n8nEnv(np(cfg()), "main"));
  });
});

describe("licence and mail", () => {
  it("main activates the licence from a Secret and sends mail through SMTP with the password from a Secret", () => {
    const c = cfg({
      n8n: {
        license: { name: "n8n-license", key: "activation-key" },
        smtp: {
          host: "smtp.example.com",
          port: 587,
          ssl: false,
          user: "n8n",
          password: { name: "smtp", key: "password" },
          sender: "n8n <n8n@example.com>",
        },
      },
    });
    const main = n8nEnv(np(c), "main");
    const get = (name: string) => main.find((e) => e.name === name);
    expect(get("N8N_LICENSE_ACTIVATION_KEY")).toEqual({
      name: "N8N_LICENSE_ACTIVATION_KEY",
      valueFrom: { secretKeyRef: { name: "n8n-license", key: "activation-key" } },
    });
    expect(get("N8N_SMTP_PASS")).toEqual({
      name: "N8N_SMTP_PASS",
      valueFrom: { secretKeyRef: { name: "smtp", key: "password" } },
    });
    expect(
      main
        .filter((e) => e.name.startsWith("N8N_SMTP_") || e.name === "N8N_EMAIL_MODE")
        .map((e) => [e.name, "value" in e ? e.value : "<secret>"]),
    ).toEqual([
      ["N8N_EMAIL_MODE", "smtp"],
      ["N8N_SMTP_HOST", "smtp.example.com"],
      ["N8N_SMTP_PORT", "587"],
      ["N8N_SMTP_SSL", "false"],
      ["N8N_SMTP_STARTTLS", "true"],
      ["N8N_SMTP_USER", "n8n"],
      ["N8N_SMTP_PASS", "<secret>"],
      ["N8N_SMTP_SENDER", "n8n <n8n@example.com>"],
    ]);
    // Workers and webhook processors neither activate nor mail.
    for (const role of ["worker", "webhook"] as const) {
      expect(
        n8nEnv(np(c), role).some((e) => e.name === "N8N_LICENSE_ACTIVATION_KEY" || e.name.startsWith("N8N_SMTP_")),
      ).toBe(false);
    }
    // Without the keys, nothing of it.
    expect(n8nEnv(np(cfg()), "main").some((e) => e.name.startsWith("N8N_SMTP_") || e.name === "N8N_EMAIL_MODE")).toBe(
      false,
    );
  });
});

describe("settings main manages from env", () => {
  it("renders nothing by default, and each typed key on main only, secrets by reference", () => {
    const none = n8nEnv(np(cfg({})), "main").map((e) => e.name);
    expect(none.filter((n) => /SSO|SECURITY_POLICY|MFA|PERSONAL_SPACE|LOG_STREAMING/.test(n))).toEqual([]);
    const c = cfg({
      n8n: {
        sso: {
          oidc: {
            discoveryEndpoint: "https://login.example.com/.well-known/openid-configuration",
            clientId: "n8n",
            clientSecret: { name: "oidc", key: "secret" },
          },
        },
        securityPolicy: { managedByEnv: true },
        logStreaming: { destinations: { name: "streams", key: "json" } },
      },
    });
    const main = n8nEnv(np(c), "main");
    const byName = Object.fromEntries(main.map((e) => [e.name, e]));
    expect(byName.N8N_SSO_MANAGED_BY_ENV).toEqual({ name: "N8N_SSO_MANAGED_BY_ENV", value: "true" });
    expect(byName.N8N_SSO_OIDC_CLIENT_SECRET).toEqual({
      name: "N8N_SSO_OIDC_CLIENT_SECRET",
      valueFrom: { secretKeyRef: { name: "oidc", key: "secret" } },
    });
    expect(byName.N8N_SECURITY_POLICY_MANAGED_BY_ENV).toEqual({
      name: "N8N_SECURITY_POLICY_MANAGED_BY_ENV",
      value: "true",
    });
    expect(byName.N8N_LOG_STREAMING_DESTINATIONS).toEqual({
      name: "N8N_LOG_STREAMING_DESTINATIONS",
      valueFrom: { secretKeyRef: { name: "streams", key: "json" } },
    });
    for (const e of main) expect(readsEnv("n8n", e.name), e.name).toBe(true);
    for (const role of ["worker", "webhook"] as const) {
      expect(n8nEnv(np(c), role).some((e) => /SSO|SECURITY_POLICY|LOG_STREAMING/.test(e.name))).toBe(false);
    }
  });

  it("SAML: login on, the metadata from a URL or from a ConfigMap; never together with OIDC", () => {
    const env = (saml: Record<string, unknown>) =>
      Object.fromEntries(
        n8nEnv(np(cfg({ n8n: { sso: { saml } } })), "main")
          .filter((e) => e.name.startsWith("N8N_SSO_"))
          .map((e) => [e.name, "value" in e ? e.value : e.valueFrom]),
      );
    expect(env({ metadataUrl: "https://idp.example.com/metadata", loginLabel: "Okta" })).toEqual({
      N8N_SSO_MANAGED_BY_ENV: "true",
      N8N_SSO_SAML_LOGIN_ENABLED: "true",
      N8N_SSO_SAML_METADATA_URL: "https://idp.example.com/metadata",
      N8N_SSO_SAML_LOGIN_LABEL: "Okta",
    });
    expect(env({ metadata: { name: "idp", key: "metadata.xml" } }).N8N_SSO_SAML_METADATA).toEqual({
      configMapKeyRef: { name: "idp", key: "metadata.xml" },
    });
    const both = configErrorText({
      domain: "n8n.example.com",
      n8n: {
        sso: {
          saml: { metadataUrl: "https://idp.example.com/metadata" },
          oidc: {
            discoveryEndpoint: "https://idp.example.com/.well-known",
            clientId: "n8n",
            clientSecret: { name: "o", key: "s" },
          },
        },
      },
    });
    expect(both).toContain("n8n.sso.saml");
    expect(both).toContain("n8n enables one SSO protocol at a time");
    expect(configErrorText({ domain: "n8n.example.com", n8n: { sso: { saml: {} } } })).toContain(
      "needs exactly one of metadataUrl or metadata",
    );
  });
});
