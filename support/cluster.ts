/**
 * A whole rendered stack on loopback for the fault scenarios (test/faults): PostgreSQL (or a
 * database address the scenario provides, e.g. HAProxy in front of Patroni), Redis from its
 * rendered config, and n8n main, workers and webhook processors with the rendered env and args,
 * each started, stopped and terminated the way the kubelet would (rendered preStop and grace).
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import type { Manifest } from "../render/manifests";
import { type PodTermination, podTermination, terminate } from "./kubelet";
import { importAndPublish, loopbackOverrides, N8N, type N8nProcess, node, prepareDatabase, startN8n } from "./n8n";
import { type Postgres, spiloParameters, startPostgres } from "./postgres";
import { type Redis, startRedis } from "./redis";
import {
  containerOf,
  find,
  freePort,
  manifests,
  removeDir,
  resolveEnv,
  scratchDir,
  secretValue,
  stopAll,
} from "./servers";

export type Role = "main" | "worker" | "webhook";
const DEPLOYMENT: Record<Role, string> = { main: "n8n-main", worker: "n8n-worker", webhook: "n8n-webhook" };

export interface Pod extends N8nProcess {
  name: string;
  role: Role;
  termination: PodTermination;
}

/** An n8n release as the cluster runs it: its rendered manifests and its installed entry point. */
export interface Release {
  list: Manifest[];
  bin: string;
}

export interface ClusterOptions {
  stack: string;
  /** Where n8n finds PostgreSQL (e.g. a proxy in front of Patroni); a plain server from the rendered parameters when absent. */
  database?: Pick<Postgres, "port" | "dir" | "psql">;
  /** Extra env for every n8n process (test-only: e.g. letting workflows call the ledger). */
  env?: Record<string, string>;
  workflows: { id: string }[];
  /** The release the cluster starts on (the stack's render and the pinned n8n when absent). */
  release?: Release;
}

export interface Cluster {
  list: Manifest[];
  pg: Pick<Postgres, "port" | "dir" | "psql">;
  redis: Redis;
  pods: Pod[];
  /**
   * Starts one more pod of a role (the rendered container, with env overrides) and waits until
   * ready; of another release when given (an upgrade).
   */
  start(role: Role, env?: Record<string, string>, release?: Release): Promise<Pod>;
  /** Terminates a pod as the kubelet does; `onTerminating` runs first (endpoints removal). */
  terminate(pod: Pod, onTerminating?: () => void | Promise<void>): ReturnType<typeof terminate>;
  /** The env of the n8n CLI on this stack (the rendered main's, on loopback), with overrides. */
  cliEnv(overrides?: Record<string, string>): Promise<Record<string, string>>;
  /** Executions by status, from PostgreSQL (of the given workflows, or all). */
  executions(workflowIds?: string[]): Record<string, number>;
  sql(query: string): string;
  stop(): Promise<void>;
}

const ALL_STATUSES = ["new", "running", "waiting", "success", "error", "crashed", "canceled", "unknown"];

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const first: Release = o.release ?? { list: manifests(o.stack), bin: N8N };
  if (!existsSync(first.bin)) throw new Error(`${first.bin} is not installed: run bash scripts/real-setup.sh`);
  const list = first.list;
  const dirs: string[] = [];
  // The parameters Spilo would run with; archiving goes nowhere, as there is no bucket here.
  const pg =
    o.database ??
    (await startPostgres(
      { ...spiloParameters(list), archive_command: "/bin/true" },
      undefined,
      undefined,
      secretValue("n8n-postgres-credentials", "superuser-password"),
    ));
  dirs.push(pg.dir);
  prepareDatabase(list, pg);
  const pgPort = pg.port;
  const redis = await startRedis(o.stack);
  dirs.push(redis.dir);

  const plan = async (role: Role | "cli", overrides: Record<string, string> = {}, release = first) => {
    const dir = scratchDir(`n8n-${role}`);
    dirs.push(dir);
    const port = await freePort();
    const local = loopbackOverrides({
      port,
      brokerPort: await freePort(),
      userFolder: dir,
      pgPort,
      redisPort: redis.port,
      role,
    });
    const c = containerOf(find(release.list, "Deployment", DEPLOYMENT[role === "cli" ? "main" : role]), "n8n");
    return { port, args: c.args ?? [], env: resolveEnv(c, { ...local, ...o.env, ...overrides }, release.list) };
  };

  const cli = await plan("cli");
  importAndPublish(cli.env, cli.env.N8N_USER_FOLDER as string, o.workflows, first.bin);

  const pods: Pod[] = [];
  const sql = (q: string) => pg.psql(q, "n8n");
  const cluster: Cluster = {
    list,
    pg,
    redis,
    pods,
    async start(role, env = {}, release = first) {
      const p = await plan(role, env, release);
      const name = `${role}-${randomUUID().slice(0, 6)}`;
      const proc = await startN8n(name, p.args, p.env, p.port, release.bin);
      const deployment = find(release.list, "Deployment", DEPLOYMENT[role]);
      const pod = { ...proc, name, role, termination: podTermination(deployment) };
      pods.push(pod);
      return pod;
    },
    async terminate(pod, onTerminating) {
      const result = await terminate(pod.server, pod.termination, onTerminating);
      pods.splice(pods.indexOf(pod), 1);
      return result;
    },
    sql,
    cliEnv: async (overrides = {}) => (await plan("cli", overrides)).env,
    executions(workflowIds) {
      const where = workflowIds ? `WHERE "workflowId" IN (${workflowIds.map((w) => `'${w}'`).join(",")})` : "";
      const rows = sql(`SELECT status, count(*) FROM execution_entity ${where} GROUP BY status`)
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("|"));
      const out: Record<string, number> = Object.fromEntries(ALL_STATUSES.map((s) => [s, 0]));
      for (const [status, n] of rows) out[status as string] = Number(n);
      return out;
    },
    async stop() {
      await stopAll();
      for (const d of dirs) removeDir(d);
    },
  };
  return cluster;
}

/** An n8n workflow: POST /webhook/<path> answers at once; the run waits `waitSeconds` (in process), then calls the ledger. */
export function ledgerWorkflow(id: string, path: string, ledgerPort: number, waitSeconds = 0) {
  const nodes = [
    node("Webhook", "n8n-nodes-base.webhook", 2, { httpMethod: "POST", path, responseMode: "onReceived", options: {} }),
    ...(waitSeconds > 0
      ? [
          node(
            "Wait",
            "n8n-nodes-base.wait",
            1.1,
            { resume: "timeInterval", amount: waitSeconds, unit: "seconds" },
            220,
          ),
        ]
      : []),
    node(
      "Ledger",
      "n8n-nodes-base.httpRequest",
      4.2,
      { method: "GET", url: `=http://127.0.0.1:${ledgerPort}/seen?i={{ $('Webhook').item.json.body.i }}`, options: {} },
      440,
    ),
  ];
  const chain = nodes.map((n) => n.name);
  return {
    id,
    name: id,
    nodes,
    connections: Object.fromEntries(
      chain.slice(0, -1).map((from, k) => [from, { main: [[{ node: chain[k + 1], type: "main", index: 0 }]] }]),
    ),
    settings: { executionOrder: "v1" },
    active: false,
  };
}

/** Test-only env: workflows may call the ledger on loopback (n8n's SSRF protection stays on). */
export function ledgerEnv(): Record<string, string> {
  return { N8N_SSRF_ALLOWED_IP_RANGES: "127.0.0.1/32" };
}
