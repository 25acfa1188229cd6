/**
 * PostgreSQL failover on its real DCS. Three Patroni members (Debian's patroni 3.0.2, postgresql-15)
 * keep their leader lock in ConfigMaps of the engine loop's real API server, with the `kubernetes`
 * section Spilo's own configure_spilo.py writes from the rendered env, authenticating with a token
 * of the rendered ServiceAccount bound to each member's pod (the rendered StatefulSet's, on kwok
 * nodes), so every call passes the RBAC authorizer with the rendered Role. A fault proxy sits in
 * front of the API server (away, slow); the primary Service's stand-in sends connections to the pod
 * the real EndpointSlice controller selects from the role label Patroni writes (support/engine/proxies.ts).
 * n8n main, a worker and a webhook processor run on it under a steady webhook load with the ledger.
 *
 * Stand-ins: kwok's pods are Ready whatever Patroni's readiness probe would say; the members run on
 * loopback, not in those pods; Patroni 3.0.2 instead of the image's 4.0.4 (README).
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type Cluster, ledgerEnv, ledgerWorkflow, type Pod, startCluster } from "../../support/cluster";
import { type ControlPlane, startControlPlane } from "../../support/engine/controlplane";
import { Kube, type KubeObject, objectPath } from "../../support/engine/kube";
import { type Proxies, startProxies } from "../../support/engine/proxies";
import { kubeletReadiness, type Probe } from "../../support/engine/readiness";
import { podTermination, terminate } from "../../support/kubelet";
import { type Ledger, post, startLedger, steadyLoad } from "../../support/load";
import { type Member, type PatroniCluster, startPatroni } from "../../support/patroni";
import {
  containerOf,
  find,
  manifests,
  removeDir,
  scratchDir,
  secretValue,
  stopAll,
  waitFor,
  writeFile,
} from "../../support/servers";
import { configureSpilo } from "../../support/spilo";
import { type Figure, record } from "../faults/figures";

const STACK = "prod";
const RATE = 4;
/**
 * The target is 0 lost among what is accepted after writes resume; measured, up to about a second
 * of the load still is: a worker's pool comes back up to DB_RECOVERY_BACKOFF_MAX_MS (1 s) after
 * writes, and a job it takes meanwhile fails ("Driver not Connected"). README, "PostgreSQL failover
 * timings".
 */
const RESIDUAL_LOSS = 2 * RATE;
const list = manifests(STACK);
const sts = find(list, "StatefulSet", "n8n-postgres");
const NS = sts.metadata.namespace as string;
/** What the test applies: the members' pods and everything Patroni and the Services need of them. */
const APPLIED = [
  ["Namespace", NS],
  ["ServiceAccount", "n8n-postgres"],
  ["Role", "n8n-postgres"],
  ["RoleBinding", "n8n-postgres"],
  ["Service", "n8n-postgres"],
  ["Service", "n8n-postgres-repl"],
  ["Service", "n8n-postgres-headless"],
  ["PodDisruptionBudget", "n8n-postgres"],
  ["StatefulSet", "n8n-postgres"],
] as const;

let cp: ControlPlane;
let proxies: Proxies;
let patroni: PatroniCluster;
let cluster: Cluster;
let ledger: Ledger;
let webhook: Pod;
let servicePort: number;
let stopReadiness: (() => Promise<void>) | undefined;
const tokens = new Map<string, string>();
let kubeDir: string;
const dirs: string[] = [];
const figures: Figure[] = [];
const tag = () => randomUUID().replaceAll("-", "").slice(0, 10);
const short = { id: `fk${tag()}`, path: `short-${randomUUID()}` };

const pods = () =>
  cp.kube.list(`/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent("cluster-name=n8n-postgres")}`);

/**
 * What the kubelet projects into a member's pod: a token of the rendered ServiceAccount bound to the
 * pod (a pod made again, after an eviction, gets a new one), here in the member's kubeconfig.
 */
async function projectToken(p: KubeObject): Promise<void> {
  const r = await cp.kube.json<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${NS}/serviceaccounts/n8n-postgres/token`,
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        expirationSeconds: 7200,
        boundObjectRef: { apiVersion: "v1", kind: "Pod", name: p.metadata.name, uid: p.metadata.uid },
      },
    },
  );
  tokens.set(p.metadata.name, r.status.token);
  writeFile(
    `${kubeDir}/${p.metadata.name}.yaml`,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "engine",
          cluster: {
            server: `https://127.0.0.1:${proxies.apiPort}`,
            "certificate-authority-data": Buffer.from(cp.kube.access.ca).toString("base64"),
          },
        },
      ],
      users: [{ name: "n8n-postgres", user: { token: r.status.token } }],
      // Patroni 3.0.2 asks a kubeconfig for the context "kind-kind" unless its config names one.
      contexts: [{ name: "kind-kind", context: { cluster: "engine", user: "n8n-postgres" } }],
      "current-context": "kind-kind",
    }),
    "postgres",
  );
}

beforeAll(async () => {
  cp = await startControlPlane();
  for (const [kind, name] of APPLIED) {
    const m = find(list, kind, name);
    await cp.kube.apply(objectPath(m.apiVersion, m.kind, m.metadata.name, m.metadata.namespace), m, "engine-tests");
  }
  const running = await waitFor(
    "the StatefulSet's three pods Running on kwok nodes",
    async () => {
      const p = await pods();
      return p.length === 3 && p.every((x) => (x.status as { phase?: string }).phase === "Running") ? p : undefined;
    },
    120_000,
    1_000,
  );
  proxies = await startProxies({ host: "127.0.0.1", port: Number(new URL(cp.kube.access.server).port) });
  // Each member's token: the rendered ServiceAccount's, bound to its pod, as the kubelet projects it.
  kubeDir = scratchDir("patroni-kube", "postgres");
  dirs.push(kubeDir);
  for (const p of running) await projectToken(p);
  const spilo = configureSpilo(list);
  dirs.push(spilo.dir);
  patroni = await startPatroni(
    list,
    {
      superuser: secretValue("n8n-postgres-credentials", "superuser-password"),
      replication: secretValue("n8n-postgres-credentials", "replication-password"),
    },
    {
      kubernetes: {
        section: spilo.patroni.kubernetes as unknown as Record<string, unknown>,
        namespace: NS,
        kubeconfig: (m) => `${kubeDir}/${m}.yaml`,
      },
    },
  );
  dirs.push(...patroni.dirs);
  const probe = (containerOf(sts, "postgres") as unknown as { readinessProbe: Probe }).readinessProbe;
  stopReadiness = kubeletReadiness(
    cp.kube,
    NS,
    probe,
    patroni.members.map((m) => ({ pod: m.name, alive: () => m.server.alive, port: () => m.apiPort })),
  );
  servicePort = await proxies.service(
    NS,
    "n8n-postgres",
    Object.fromEntries(patroni.members.map((m) => [m.name, m.pgPort])),
    cp.kube.access,
  );
  await waitFor(
    "the primary Service to select the leader",
    async () => {
      const leader = await patroni.leader();
      const s = (await proxies.state())["n8n-postgres"];
      return leader && s?.targets.join() === leader.name ? true : undefined;
    },
    60_000,
    500,
  );
  ledger = await startLedger();
  cluster = await startCluster({
    stack: STACK,
    env: ledgerEnv(),
    database: { port: servicePort, dir: scratchDir("failover-k8s"), psql: (q, db) => onLeader(q, db) },
    workflows: [ledgerWorkflow(short.id, short.path, ledger.port)],
  });
  await cluster.start("main");
  await cluster.start("worker");
  webhook = await cluster.start("webhook");
});

afterAll(async () => {
  if (figures.length > 0) record("database-failover-kubernetes", figures, "npm run test:engine");
  await cluster?.stop();
  await stopReadiness?.();
  await stopAll();
  await proxies?.close();
  await ledger?.close();
  await cp?.stop();
  for (const d of dirs) removeDir(d);
});

/** SQL on whichever member leads now (direct, not through the Service stand-in). */
function onLeader(q: string, database = "postgres"): string {
  for (const m of patroni.members) {
    const r = patroni.psql(m, "SELECT pg_is_in_recovery()");
    if (r.ok && r.out === "f") {
      const out = patroni.psql(m, q, database);
      if (!out.ok) throw new Error(`psql on ${m.name}: ${out.err}`);
      return out.out;
    }
  }
  throw new Error("no member is primary");
}

const run = promisify(execFile);
/** One write through the primary Service's stand-in, without blocking the event loop. */
async function writeThroughService(): Promise<boolean> {
  try {
    await run(
      "psql",
      [
        "-X",
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        String(servicePort),
        "-U",
        "postgres",
        "-c",
        "CREATE TABLE IF NOT EXISTS failover_probe (at timestamptz DEFAULT now()); INSERT INTO failover_probe DEFAULT VALUES",
      ],
      {
        env: { ...process.env, PGPASSWORD: patroni.superuserPassword, PGCONNECT_TIMEOUT: "2", PGSSLMODE: "prefer" },
        timeout: 3_000,
      },
    );
    return true;
  } catch {
    return false;
  }
}

/** What n8n says of itself after a fault: exited processes, readiness, executions by status, log tails. */
async function n8nState() {
  const ready = await Promise.all(
    cluster.pods.map(async (p) => {
      const res = await fetch(`http://127.0.0.1:${p.port}/healthz/readiness`).catch(() => undefined);
      return `${p.role}:${p.server.alive ? (res?.status ?? "down") : "exited"}`;
    }),
  );
  const byStatus = cluster.executions([short.id]);
  if (process.env.FAILOVER_LOGS === "1") {
    for (const m of patroni.members) {
      const r = patroni.psql(
        m,
        "SELECT pg_is_in_recovery(), (SELECT max(id) FROM execution_entity), (SELECT string_agg(usename || ':' || coalesce(application_name,'') || ':' || state, ',') FROM pg_stat_activity WHERE datname = 'n8n')",
        "n8n",
      );
      process.stdout.write(`member ${m.name}: ${r.ok ? r.out : r.err}\n`);
    }
    for (const p of cluster.pods) process.stdout.write(`--- ${p.role}\n${p.server.output.slice(-25).join("\n")}\n`);
  }
  return { readiness: ready.join(" "), executions: JSON.stringify(byStatus) };
}

/** The runbook's `kubectl rollout restart` of the n8n Deployments: each process terminated as the kubelet does, then started again. */
async function restartN8n(): Promise<void> {
  for (const pod of [...cluster.pods]) await cluster.terminate(pod);
  await cluster.start("main");
  await cluster.start("worker");
  webhook = await cluster.start("webhook");
}

/** patronictl as run in a member's container: its own Patroni config and kubeconfig. */
function patronictl(m: Member, args: string[]) {
  return run(
    "runuser",
    [
      "-u",
      "postgres",
      "--",
      "env",
      `KUBECONFIG=${kubeDir}/${m.name}.yaml`,
      "patronictl",
      "-c",
      `${m.dir}/patroni.yml`,
      ...args,
    ],
    { timeout: 120_000 },
  );
}

const webhookUrl = () => `http://127.0.0.1:${webhook.port}/webhook/${short.path}`;

/** Roles of every member every 500 ms until stopped: demotions of `leader` and other members promoted. */
function watchRoles(leader: Member) {
  let stopped = false;
  const seen: { at: number; roles: (string | undefined)[] }[] = [];
  const done = (async () => {
    while (!stopped) {
      seen.push({ at: Date.now(), roles: await Promise.all(patroni.members.map((m) => patroni.role(m))) });
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  const i = patroni.members.indexOf(leader);
  const primary = (r: string | undefined) => r === "master" || r === "primary";
  return async () => {
    stopped = true;
    await done;
    let demotions = 0;
    for (let k = 1; k < seen.length; k++) {
      const was = primary(seen[k - 1]?.roles[i]);
      const now = seen[k]?.roles[i];
      // A demotion: the leader answers, and not as primary. (Unanswered polls are not counted.)
      if (was && now !== undefined && !primary(now)) demotions += 1;
    }
    const falseFailovers = new Set(seen.flatMap((s) => s.roles.flatMap((r, j) => (j !== i && primary(r) ? [j] : []))))
      .size;
    return { demotions, falseFailovers, polls: seen.length };
  };
}

/** Waits until every member is back and streaming (a killed one restarted on its data directory). */
async function allStreaming(): Promise<void> {
  await waitFor(
    "every member streaming again",
    async () => {
      const roles = await Promise.all(patroni.members.map((m) => patroni.role(m)));
      const primaries = roles.filter((r) => r === "master" || r === "primary").length;
      const replicas = roles.filter((r) => r === "replica" || r === "sync_standby").length;
      return primaries === 1 && replicas === 2 ? true : undefined;
    },
    240_000,
    1_000,
  );
}

interface Timings {
  ttl: number;
  loop_wait: number;
  retry_timeout: number;
}

/** Scenario 1: the leader (Patroni and PostgreSQL) SIGKILLed under load; the ledger counts. */
async function killLeader(what: string, timings: Timings) {
  const load = steadyLoad(webhookUrl(), RATE, `kill-${timings.ttl}`);
  await new Promise((r) => setTimeout(r, 5_000));
  const leader = (await patroni.leader()) as Member;
  const killedAt = Date.now();
  await patroni.kill(leader);
  const survivors = patroni.members.filter((m) => m !== leader);
  const promoted = await waitFor("a new leader", () => patroni.leader(survivors), 180_000, 250);
  const promotedSeconds = (Date.now() - killedAt) / 1000;
  await waitFor(
    "a write through the primary Service",
    async () => (await writeThroughService()) || undefined,
    180_000,
    250,
  );
  const writesResumeSeconds = (Date.now() - killedAt) / 1000;
  await new Promise((r) => setTimeout(r, 15_000));
  const result = await load.stop();
  const started = killedAt - 5_000;
  const resumedAt = writesResumeSeconds * 1000 + 5_000;
  const afterResume = result.requests.filter((q) => q.ok && q.at > resumedAt).map((q) => q.i);
  const { lostIds, duplicated } = await ledger.settle(result.accepted);
  const service = (await proxies.state())["n8n-postgres"];
  const switched = service?.changes.find((c) => c.at > killedAt && c.targets.join() === promoted.name);
  const values = {
    ttl: timings.ttl,
    loop_wait: timings.loop_wait,
    retry_timeout: timings.retry_timeout,
    promotedSeconds: Number(promotedSeconds.toFixed(1)),
    serviceSwitchedSeconds: switched ? Number(((switched.at - killedAt) / 1000).toFixed(1)) : "never",
    writesResumeSeconds: Number(writesResumeSeconds.toFixed(1)),
    webhookOutageSeconds: Number(result.outageSeconds.toFixed(1)),
    accepted: result.accepted.length,
    failedRequests: result.failed.length,
    lost: lostIds.length,
    lostAfterResume: afterResume.filter((i) => lostIds.includes(i)).length,
    duplicated,
    newLeader: promoted.name,
    ...(await n8nState()),
  };
  process.stdout.write(
    `${what}: ${JSON.stringify(values)} (load from ${new Date(started).toISOString()}) failures: ${JSON.stringify(result.failed.slice(0, 3))} lost: ${lostIds.slice(0, 10).join(" ")}\n`,
  );
  figures.push({ scenario: "1. leader SIGKILL (Kubernetes DCS)", what, values });
  patroni.restart(leader);
  await allStreaming();
  return { values, afterResume: afterResume.length };
}

describe("Patroni on the real API server, as the rendered ServiceAccount", () => {
  it("keeps its leader lock and members in ConfigMaps and labels the leader's pod; the Service follows", async () => {
    const leader = (await patroni.leader()) as Member;
    const cms = await cp.kube.list(`/api/v1/namespaces/${NS}/configmaps`);
    const byName = new Map(cms.map((c) => [c.metadata.name, c]));
    const lock = byName.get("n8n-postgres-leader") as KubeObject;
    expect(lock?.metadata.annotations?.leader).toBe(leader.name);
    expect(byName.has("n8n-postgres-config")).toBe(true);
    // Patroni's objects carry KUBERNETES_LABELS plus the scope label, as the rendered env says.
    const labels = JSON.parse(
      (
        sts.spec as { template: { spec: { containers: { name: string; env: { name: string; value?: string }[] }[] } } }
      ).template.spec.containers
        .find((c) => c.name === "postgres")
        ?.env.find((e) => e.name === "KUBERNETES_LABELS")?.value ?? "{}",
    );
    expect(lock.metadata.labels).toMatchObject({ ...labels, "cluster-name": "n8n-postgres" });
    const roles = Object.fromEntries((await pods()).map((p) => [p.metadata.name, p.metadata.labels?.["spilo-role"]]));
    expect(roles[leader.name]).toBe("master");
    expect(Object.values(roles).filter((r) => r === "replica")).toHaveLength(2);
    expect((await proxies.state())["n8n-postgres"]?.targets).toEqual([leader.name]);
    // The token is the ServiceAccount's and the authorizer holds it to the Role: what the Role
    // grants works, what it does not is refused.
    const asMember = new Kube({ ...cp.kube.access, token: tokens.get(leader.name) as string });
    expect((await asMember.call("GET", `/api/v1/namespaces/${NS}/configmaps`)).status).toBe(200);
    expect((await asMember.call("GET", `/api/v1/namespaces/${NS}/secrets`)).status).toBe(403);
    expect((await asMember.call("DELETE", `/api/v1/namespaces/${NS}/pods/${leader.name}`)).status).toBe(403);
    expect((await asMember.call("GET", "/api/v1/namespaces/default/configmaps")).status).toBe(403);
    expect(await writeThroughService()).toBe(true);
    expect(await post(webhookUrl(), `probe-${randomUUID()}`)).toBe(true);
  });

  it("fails over after the leader's SIGKILL at the rendered timings: writes resume within 20 s, webhooks within 25 s", async () => {
    const r = await killLeader("rendered timings", rendered());
    expect(r.values.duplicated).toBe(0);
    expect(r.afterResume).toBeGreaterThan(0);
    expect(r.values.lostAfterResume).toBeLessThanOrEqual(RESIDUAL_LOSS);
    expect(r.values.writesResumeSeconds).toBeLessThanOrEqual(20);
    expect(r.values.webhookOutageSeconds).toBeLessThanOrEqual(25);
  });
});

/** The timings of the earlier default (ttl 30, loop_wait 10, retry_timeout 10), for the comparison. */
const EARLIER: Timings = { ttl: 30, loop_wait: 10, retry_timeout: 10 };

const rendered = (): Timings & { failsafe_mode: boolean } => {
  const { ttl, loop_wait, retry_timeout, failsafe_mode } = patroni.spilo.bootstrap.dcs as unknown as Timings & {
    failsafe_mode: boolean;
  };
  return { ttl, loop_wait, retry_timeout, failsafe_mode };
};

/** Changes the dynamic configuration as the patroni-config Job would, and lets every member take it. */
async function configure(patch: Record<string, unknown>): Promise<void> {
  await patroni.patchConfig(patch);
  await new Promise((r) => setTimeout(r, 2 * Math.max(rendered().loop_wait, EARLIER.loop_wait) * 1000));
}

/** Scenario 2: the API server away (`down` for `seconds`) or slow, under load; demotions and failovers counted. */
async function controlPlaneFault(what: string, fault: { down?: number; slowMs?: number; seconds: number }) {
  const load = steadyLoad(webhookUrl(), RATE, `api-${what.replaceAll(" ", "-")}`);
  await new Promise((r) => setTimeout(r, 5_000));
  const leader = (await patroni.leader()) as Member;
  const roles = watchRoles(leader);
  if (fault.down) await proxies.down();
  if (fault.slowMs) await proxies.slow(fault.slowMs);
  await new Promise((r) => setTimeout(r, fault.seconds * 1000));
  await proxies.up();
  await proxies.slow(0);
  await new Promise((r) => setTimeout(r, 20_000));
  const counted = await roles();
  const result = await load.stop();
  const { lostIds, duplicated } = await ledger.settle(result.accepted);
  const values = {
    fault: fault.down ? `away ${fault.seconds} s` : `+${fault.slowMs} ms for ${fault.seconds} s`,
    demotions: counted.demotions,
    falseFailovers: counted.falseFailovers,
    accepted: result.accepted.length,
    failedRequests: result.failed.length,
    webhookOutageSeconds: Number(result.outageSeconds.toFixed(1)),
    lost: lostIds.length,
    duplicated,
    ...(await n8nState()),
  };
  process.stdout.write(`${what}: ${JSON.stringify(values)} failures: ${JSON.stringify(result.failed.slice(0, 3))}\n`);
  figures.push({ scenario: "2. API server away or slow", what, values });
  await allStreaming();
  return values;
}

describe("failover timings and control-plane faults", () => {
  it("at the earlier timings (ttl 30, loop_wait 10, retry_timeout 10) writes resume later, for the comparison", async () => {
    await configure({ ...EARLIER });
    const r = await killLeader("earlier timings", EARLIER);
    await configure({ ...rendered() });
    expect(r.values.duplicated).toBe(0);
    expect(r.values.lostAfterResume).toBeLessThanOrEqual(RESIDUAL_LOSS);
    expect(r.values.writesResumeSeconds).toBeLessThan(EARLIER.ttl + 2 * EARLIER.loop_wait + 30);
  });

  it("with the rendered failsafe_mode, the primary stays primary through 60 s without the API server", async () => {
    expect(rendered().failsafe_mode).toBe(true);
    const r = await controlPlaneFault("away, failsafe_mode on", { down: 1, seconds: 60 });
    expect(r.demotions).toBe(0);
    expect(r.falseFailovers).toBe(0);
    expect(r.failedRequests).toBe(0);
    expect(r.lost).toBe(0);
  });

  it("with the rendered failsafe_mode, the primary stays primary while every API call takes 6 s longer", async () => {
    const r = await controlPlaneFault("slow, failsafe_mode on", { slowMs: 6_000, seconds: 60 });
    expect(r.demotions).toBe(0);
    expect(r.falseFailovers).toBe(0);
    expect(r.failedRequests).toBe(0);
    expect(r.lost).toBe(0);
  });

  it("a planned switchover (patronictl switchover) fails no request outside its measured pause", async () => {
    const load = steadyLoad(webhookUrl(), RATE, "switchover");
    await new Promise((r) => setTimeout(r, 5_000));
    const leader = (await patroni.leader()) as Member;
    const t0 = Date.now();
    await patronictl(leader, ["switchover", "--leader", leader.name, "--force"]);
    const promoted = await waitFor(
      "the switchover's new leader",
      async () => {
        const m = await patroni.leader(patroni.members.filter((x) => x !== leader));
        return m && (await writeThroughService()) ? m : undefined;
      },
      120_000,
      250,
    );
    const pauseSeconds = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 10_000));
    const result = await load.stop();
    const { lostIds, duplicated } = await ledger.settle(result.accepted);
    // The pause as n8n shows it: the longest run of failed requests (its readiness follows the
    // database by up to a ping interval, 2 s). Every failure must fall in that one run.
    let run = 0;
    let longest = 0;
    for (const q of result.requests) {
      run = q.ok ? 0 : run + 1;
      longest = Math.max(longest, run);
    }
    const outside = result.failed.length - longest;
    const values = {
      pauseSeconds: Number(pauseSeconds.toFixed(1)),
      webhookOutageSeconds: Number(result.outageSeconds.toFixed(1)),
      accepted: result.accepted.length,
      failedRequests: result.failed.length,
      failedOutsidePause: outside,
      lost: lostIds.length,
      duplicated,
      newLeader: promoted.name,
    };
    process.stdout.write(
      `switchover: ${JSON.stringify(values)} failures: ${JSON.stringify(result.failed.slice(0, 3))}\n`,
    );
    figures.push({ scenario: "3. planned switchover", what: "patronictl switchover", values });
    await allStreaming();
    expect(values.failedOutsidePause).toBe(0);
    expect(values.lost).toBe(0);
    expect(values.duplicated).toBe(0);
  });

  it("a node drain: the rendered PDB lets one member go at a time, and the leader's SIGTERM hands over", async () => {
    const evict = (name: string) =>
      cp.kube.call("POST", `/api/v1/namespaces/${NS}/pods/${name}/eviction`, {
        apiVersion: "policy/v1",
        kind: "Eviction",
        metadata: { name, namespace: NS },
      });
    const pdb = () =>
      cp.kube.get(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/n8n-postgres`) as Promise<{
        status?: { disruptionsAllowed?: number };
      }>;
    await waitFor(
      "the PDB to allow one disruption",
      async () => ((await pdb()).status?.disruptionsAllowed === 1 ? true : undefined),
      60_000,
      500,
    );
    const loadStart = Date.now();
    const load = steadyLoad(webhookUrl(), RATE, "drain");
    await new Promise((r) => setTimeout(r, 5_000));
    const leader = (await patroni.leader()) as Member;
    const evicted = (await pods()).find((p) => p.metadata.name === leader.name)?.metadata.uid;
    expect((await evict(leader.name)).status).toBe(201);
    // The kubelet stops the evicted pod's container: SIGTERM, then SIGKILL at the rendered grace period.
    const t0 = Date.now();
    const stopping = terminate(leader.server, podTermination(sts, "postgres"));
    const promoted = await waitFor(
      "a new leader after the leader's SIGTERM",
      async () => {
        const m = await patroni.leader(patroni.members.filter((x) => x !== leader));
        return m && (await writeThroughService()) ? m : undefined;
      },
      120_000,
      250,
    );
    const handoverSeconds = (Date.now() - t0) / 1000;
    const stopped = await stopping;
    if (stopped.killed) await patroni.kill(leader);
    // With one member down the PDB allows no more: the next eviction of the drain is refused.
    await waitFor(
      "the PDB to allow no disruption",
      async () => ((await pdb()).status?.disruptionsAllowed === 0 ? true : undefined),
      60_000,
      500,
    );
    const second = patroni.members.find((m) => m !== leader && m !== promoted) as Member;
    const refused = await evict(second.name);
    await new Promise((r) => setTimeout(r, 5_000));
    const result = await load.stop();
    const { lostIds, duplicated } = await ledger.settle(result.accepted);
    const values = {
      handoverSeconds: Number(handoverSeconds.toFixed(1)),
      lockReleased: String(handoverSeconds < rendered().ttl),
      leaderStoppedSeconds: Number(stopped.seconds.toFixed(1)),
      sigkill: String(stopped.killed),
      secondEviction: refused.status,
      webhookOutageSeconds: Number(result.outageSeconds.toFixed(1)),
      accepted: result.accepted.length,
      failedRequests: result.failed.length,
      lost: lostIds.length,
      duplicated,
      loadSeconds: Math.round((Date.now() - loadStart) / 1000),
    };
    process.stdout.write(`drain: ${JSON.stringify(values)}\n`);
    figures.push({ scenario: "3. node drain", what: "eviction + SIGTERM of the leader", values });
    // The pod is made again on its volume (a new uid, so a new token): the member starts on its data directory.
    const remade = await waitFor(
      "the evicted pod made again by the StatefulSet",
      async () => {
        const p = (await pods()).find((x) => x.metadata.name === leader.name);
        return p && p.metadata.uid !== evicted && (p.status as { phase?: string }).phase === "Running" ? p : undefined;
      },
      60_000,
      500,
    );
    await projectToken(remade);
    patroni.restart(leader);
    await allStreaming();
    await waitFor(
      "the PDB to allow one disruption again",
      async () => ((await pdb()).status?.disruptionsAllowed === 1 ? true : undefined),
      60_000,
      500,
    );
    expect(refused.status).toBe(429);
    expect(values.sigkill).toBe("false");
    // Patroni releases the lock on a clean SIGTERM (2 of 3 runs: under 3 s); once in CI it did not,
    // and a replica took it after ttl. Bounded as the SIGKILL case is.
    const { ttl, loop_wait } = rendered();
    expect(values.handoverSeconds).toBeLessThan(ttl + 2 * loop_wait + 10);
    expect(values.lost).toBe(0);
    expect(values.duplicated).toBe(0);
  });

  it("without failsafe_mode, an API server away for 60 s demotes the primary (why it is rendered); n8n then needs a restart", async () => {
    await configure({ failsafe_mode: false });
    const r = await controlPlaneFault("away, failsafe_mode off", { down: 1, seconds: 60 });
    await configure({ failsafe_mode: true });
    // While the API server was away the Service kept sending new connections to the demoted member;
    // n8n's pool keeps them when another member is elected, and every write fails read-only.
    const recovered = await waitFor(
      "webhook calls to succeed again",
      async () => ((await post(webhookUrl(), `probe-${randomUUID()}`)) ? true : undefined),
      30_000,
      1_000,
    ).catch(() => false);
    if (!recovered) await restartN8n();
    const afterRestart = await post(webhookUrl(), `probe-${randomUUID()}`);
    figures.push({
      scenario: "2. API server away or slow",
      what: "after failsafe_mode off",
      values: { webhooksBackWithin30s: String(recovered), backAfterN8nRestart: String(afterRestart) },
    });
    process.stdout.write(
      `after failsafe_mode off: webhooks back within 30 s: ${recovered}; after n8n restart: ${afterRestart}\n`,
    );
    expect(r.demotions).toBeGreaterThan(0);
    expect(r.failedRequests).toBeGreaterThan(0);
    expect(afterRestart).toBe(true);
  });

  it("executions the faults cut off end crashed within the rendered queue-recovery interval, not running for hours", async () => {
    const main = containerOf(find(list, "Deployment", "n8n-main"), "n8n") as {
      env?: { name: string; value?: string }[];
    };
    const minutes = Number(main.env?.find((e) => e.name === "N8N_EXECUTIONS_QUEUE_RECOVERY_INTERVAL")?.value);
    expect(minutes).toBeGreaterThan(0);
    const before = cluster.executions([short.id]);
    const t0 = Date.now();
    const after = await waitFor(
      "no execution left running or new",
      async () => {
        const e = cluster.executions([short.id]);
        return (e.running ?? 0) + (e.new ?? 0) === 0 ? e : undefined;
      },
      (minutes + 1) * 60_000,
      5_000,
    );
    const values = {
      queueRecoveryMinutes: minutes,
      runningBefore: (before.running ?? 0) + (before.new ?? 0),
      crashedBefore: before.crashed ?? 0,
      crashedAfter: after.crashed ?? 0,
      secondsWaited: Math.round((Date.now() - t0) / 1000),
    };
    process.stdout.write(`queue recovery: ${JSON.stringify(values)}\n`);
    figures.push({ scenario: "executions cut off", what: "queue recovery", values });
    // None is left running (the wait above is bounded by the interval); those a fault cut off are
    // `crashed` (some of `runningBefore` were only in flight when the load stopped and succeed).
    expect(values.crashedAfter).toBeGreaterThanOrEqual(values.crashedBefore);
  });
});
