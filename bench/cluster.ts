/**
 * P2: the cluster configuration under load. `npm run bench:cluster` drives the same webhook -> Set
 * workflow with autocannon against (a) the n8n processes, env, args, Redis and PostgreSQL settings
 * the staging stack renders and (b) n8n's own queue-mode defaults (concurrency 10, pool size 2, save
 * everything, one worker, stock PostgreSQL and Redis), on this machine, in alternating order. It
 * appends requests/s, executions/s, latency percentiles, failures, CPU per execution of each
 * process and the ratio a/b to bench/RESULTS.md.
 *
 * Executions/s is end to end: executions created / time from the first request until the queue has
 * drained (no execution left that is not finished), so a variant cannot win by accepting webhooks
 * faster than it runs them. It is counted from PostgreSQL's execution id sequence, which every
 * execution advances whether or not its data is kept after success.
 *
 * `--without NAME[,NAME...]` adds, for each name, a variant "a without NAME": the rendered staging
 * stack with that one setting put back to n8n's default, so that each tuned default's own effect is
 * measured (see the README's sizing section). Needs what `bash scripts/real-setup.sh` installs and
 * the renders of staging and prod (the npm script makes both).
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import type { Manifest } from "../render/manifests";
import {
  importAndPublish,
  loopbackOverrides,
  N8N,
  type N8nProcess,
  prepareDatabase,
  SET_NODE,
  startN8n,
  webhookWorkflow,
} from "../support/n8n";
import { type Postgres, spiloParameters, startPostgres } from "../support/postgres";
import { startRedis } from "../support/redis";
import {
  containerOf,
  freePort,
  manifests,
  N8N_VERSION,
  removeDir,
  resolveEnv,
  Server,
  scratchDir,
  secretValue,
  stopAll,
  waitFor,
  writeFile,
} from "../support/servers";
import { rssMiB, treeCpuSeconds } from "./cpu";
import { median, publish } from "./results";
import { extraVariants, percentile, type Variant } from "./variants";

const BENCH_ENV = ["BENCH_STACK", "BENCH_CONNECTIONS", "BENCH_SECONDS", "BENCH_ROUNDS"];
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
/** The stack whose render is variant (a); staging unless BENCH_STACK names another rendered one. */
const STACK = process.env.BENCH_STACK ?? "staging";
const ROLES = ["main", "worker", "webhook"] as const;

interface Result {
  variant: string;
  ok: number;
  failedRequests: number;
  requestsPerSecond: number;
  created: number;
  succeeded: number;
  failedExecutions: number;
  unfinished: number;
  executionsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  /** CPU milliseconds per execution, by process kind. */
  cpu: Record<string, number>;
  /** Resident memory in MiB of the largest n8n process of each role: idle before the load, and peak. */
  idleRss: Record<string, number>;
  rss: Record<string, number>;
}

/** autocannon with fixed connections and duration; every response time is kept for exact percentiles. */
async function drive(url: string) {
  const latencies: number[] = [];
  const r = await new Promise<autocannon.Result>((done, fail) => {
    const instance = autocannon(
      {
        url,
        method: "POST",
        connections: CONNECTIONS,
        duration: SECONDS,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ i: "[<id>]" }),
        idReplacement: true,
      },
      (err, result) => (err ? fail(err) : done(result)),
    );
    instance.on("response", (_client, _status, _bytes, ms) => {
      latencies.push(ms);
    });
  });
  const ok = r["2xx"];
  return {
    latencies: latencies.sort((x, y) => x - y),
    ok,
    failed: r.non2xx + r.errors + r.timeouts,
  };
}

interface N8nPlan {
  role: "main" | "worker" | "webhook";
  args: string[];
  env: Record<string, string>;
}

/** The n8n processes of a variant: the Deployments the stack renders, each at its replica count. */
async function n8nProcesses(
  list: Manifest[],
  v: Variant,
  pg: Postgres,
  redisPort: number,
  redisPassword: string,
  dirs: string[],
): Promise<N8nPlan[]> {
  const loopback = async (role: string) => {
    const dir = scratchDir(`${role}-${v.name.slice(0, 1)}`);
    dirs.push(dir);
    return loopbackOverrides({
      port: await freePort(),
      brokerPort: await freePort(),
      userFolder: dir,
      pgPort: pg.port,
      redisPort,
      role,
    });
  };
  const plans: N8nPlan[] = [];
  const deployments: [string, N8nPlan["role"]][] = [
    ["n8n-main", "main"],
    ["n8n-worker", "worker"],
    ["n8n-webhook", "webhook"],
  ];
  for (const [name, role] of deployments) {
    const d = list.find((m) => m.kind === "Deployment" && m.metadata.name === name);
    if (!d) continue;
    const c = containerOf(d, "n8n");
    const replicas = v.rendered ? ((d.spec as { replicas?: number }).replicas ?? 1) : role === "webhook" ? 0 : 1;
    for (let i = 0; i < replicas; i++) {
      const local = await loopback(role);
      const env = resolveEnv(c, local);
      if (v.rendered) {
        for (const [setting, value] of Object.entries(v.env)) {
          if (value === undefined) delete env[setting];
          else env[setting] = value;
        }
        plans.push({ role, args: c.args ?? [], env });
        continue;
      }
      // n8n's own defaults: only what queue mode and the connection strictly need.
      plans.push({
        role,
        args: role === "worker" ? ["worker", "--concurrency=10"] : ["start"],
        env: {
          ...local,
          EXECUTIONS_MODE: "queue",
          DB_TYPE: "postgresdb",
          DB_POSTGRESDB_DATABASE: "n8n",
          DB_POSTGRESDB_USER: "n8n",
          DB_POSTGRESDB_PASSWORD: env.DB_POSTGRESDB_PASSWORD as string,
          QUEUE_BULL_REDIS_PASSWORD: redisPassword,
          N8N_ENCRYPTION_KEY: env.N8N_ENCRYPTION_KEY as string,
          ...(role === "worker" ? { QUEUE_HEALTH_CHECK_ACTIVE: "true" } : {}),
        },
      });
    }
  }
  return plans;
}

/** One variant: fresh PostgreSQL, Redis and n8n processes; load; drain; count. */
async function run(v: Variant): Promise<Result> {
  const list = manifests(STACK);
  const dirs: string[] = [];
  const superuser = secretValue("n8n-postgres-credentials", "superuser-password");
  try {
    // The parameters Spilo would run with; archiving goes nowhere, as there is no bucket here.
    const params = v.rendered ? { ...spiloParameters(list), archive_command: "/bin/true" } : {};
    const pg = await startPostgres(params, undefined, undefined, superuser);

    dirs.push(pg.dir);
    prepareDatabase(list, pg);

    let redis: Server;
    let redisPort: number;
    let redisPassword: string;
    if (v.rendered) {
      const r = await startRedis(STACK);
      dirs.push(r.dir);
      redis = r.server;
      redisPort = r.port;
      redisPassword = r.password;
    } else {
      redisPort = await freePort();
      redisPassword = secretValue("n8n-redis-credentials", "password");
      const dir = scratchDir("redis-defaults");
      dirs.push(dir);
      writeFile(
        join(dir, "redis.conf"),
        `bind 127.0.0.1\nport ${redisPort}\ndir ${dir}\nrequirepass "${redisPassword}"\n`,
      );
      redis = new Server("redis-defaults", "redis-server", [join(dir, "redis.conf")]);
      await new Promise((r) => setTimeout(r, 500));
    }

    const plans = await n8nProcesses(list, v, pg, redisPort, redisPassword, dirs);
    const id = `bench${randomUUID().replaceAll("-", "").slice(0, 11)}`;
    const path = `bench-${randomUUID()}`;
    const cli = plans[0] as N8nPlan;
    importAndPublish(cli.env, cli.env.N8N_USER_FOLDER as string, [webhookWorkflow(id, path, SET_NODE)]);
    const procs: (N8nProcess & { role: string })[] = [];
    for (const [i, p] of plans.entries()) {
      procs.push({ role: p.role, ...(await startN8n(`${p.role}${i}`, p.args, p.env, Number(p.env.N8N_PORT))) });
    }
    // Webhook calls go where the Ingress sends them: to the webhook processors when there are any.
    const target = procs.find((p) => p.role === "webhook") ?? (procs[0] as N8nProcess);

    const groups = [
      ["postgres", pg.server.pid],
      ["redis", redis.pid],
      ...procs.map((p) => [p.role, p.server.pid] as const),
    ] as const;
    /** Resident memory of the largest process of each role, now or at its peak. */
    const largestRss = (which: "VmRSS" | "VmHWM") => {
      const byRole: Record<string, number> = {};
      for (const p of procs) byRole[p.role] = Math.max(byRole[p.role] ?? 0, rssMiB(p.server.pid, which));
      return byRole;
    };
    const idleRss = largestRss("VmRSS");
    const cpuBefore = treeCpuSeconds(groups.map(([, pid]) => pid));
    const selfBefore = process.cpuUsage();
    const started = performance.now();

    const load = await drive(`http://127.0.0.1:${target.port}/webhook/${path}`);
    const loadSeconds = (performance.now() - started) / 1000;
    const sql = (q: string) => Number(pg.psql(q, "n8n"));
    const unfinished = () =>
      sql(`SELECT count(*) FROM execution_entity WHERE status NOT IN ('success', 'error', 'crashed', 'canceled')`);
    await waitFor("the queue to drain", () => (unfinished() === 0 ? true : undefined), 600_000, 250).catch(
      () => undefined,
    );
    const seconds = (performance.now() - started) / 1000;

    const cpuAfter = treeCpuSeconds(groups.map(([, pid]) => pid));
    const rss = largestRss("VmHWM");
    const self = process.cpuUsage(selfBefore);
    const created = sql(`SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM execution_entity_id_seq`);
    const left = unfinished();
    const failedExecutions = sql(`SELECT count(*) FROM execution_entity WHERE status <> 'success'`) - left;
    const cpu: Record<string, number> = {};
    for (const [kind, pid] of groups)
      cpu[kind] = (cpu[kind] ?? 0) + ((cpuAfter.get(pid) ?? 0) - (cpuBefore.get(pid) ?? 0));
    cpu["load generator"] = (self.user + self.system) / 1e6;
    for (const k of Object.keys(cpu)) cpu[k] = created > 0 ? ((cpu[k] as number) * 1000) / created : Number.NaN;
    return {
      variant: v.name,
      ok: load.ok,
      failedRequests: load.failed,
      requestsPerSecond: load.ok / loadSeconds,
      created,
      succeeded: created - failedExecutions - left,
      failedExecutions,
      unfinished: left,
      executionsPerSecond: created / seconds,
      p50: percentile(load.latencies, 50),
      p95: percentile(load.latencies, 95),
      p99: percentile(load.latencies, 99),
      cpu,
      idleRss,
      rss,
    };
  } finally {
    await stopAll();
    for (const d of dirs) removeDir(d);
  }
}

async function main(extras: Variant[]) {
  if (!existsSync(N8N)) throw new Error("run `bash scripts/real-setup.sh` first");
  const variants: Variant[] = [
    { name: `a: rendered ${STACK}`, rendered: true, env: {} },
    { name: "b: n8n defaults", rendered: false, env: {} },
    ...extras,
  ];
  const results: Result[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const r = await run(v);
      process.stderr.write(`${JSON.stringify(r)}\n`);
      results.push(r);
    }
  }
  const summary = (v: Variant) => {
    const rs = results.filter((r) => r.variant === v.name);
    const m = (f: (r: Result) => number) => median(rs.map(f));
    const kinds = [...new Set(rs.flatMap((r) => Object.keys(r.cpu)))];
    return {
      name: v.name,
      rps: m((r) => r.requestsPerSecond),
      eps: m((r) => r.executionsPerSecond),
      p50: m((r) => r.p50),
      p95: m((r) => r.p95),
      p99: m((r) => r.p99),
      failedRequests: rs.reduce((t, r) => t + r.failedRequests, 0),
      failedExecutions: rs.reduce((t, r) => t + r.failedExecutions + r.unfinished, 0),
      lost: rs.reduce((t, r) => t + Math.max(0, r.ok - r.created), 0),
      executions: rs.reduce((t, r) => t + r.created, 0),
      cpu: Object.fromEntries(kinds.map((k) => [k, m((r) => r.cpu[k] ?? 0)])),
      rss: Object.fromEntries(ROLES.map((k) => [k, Math.max(...rs.map((r) => r.rss[k] ?? 0))])),
      idleRss: Object.fromEntries(ROLES.map((k) => [k, Math.max(...rs.map((r) => r.idleRss[k] ?? 0))])),
    };
  };
  const rows = variants.map(summary);
  const [a, b] = rows as [ReturnType<typeof summary>, ReturnType<typeof summary>];
  const kinds = [...new Set(rows.flatMap((s) => Object.keys(s.cpu)))];
  const report = [
    `## P2: the cluster configuration (${new Date().toISOString()})`,
    "",
    `Machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB; everything on this one machine (autocannon, n8n, PostgreSQL 15, Redis). n8n ${N8N_VERSION}, Node ${process.version}. Command: \`${BENCH_ENV.filter(
      (k) => process.env[k],
    )
      .map((k) => `${k}=${process.env[k]} `)
      .join(
        "",
      )}npm run bench:cluster${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}\` (${CONNECTIONS} connections, ${SECONDS} s of load per run, ${ROUNDS} rounds in alternating order; medians, failures summed).`,
    "",
    "| variant | executions/s | vs b | requests/s | p50 ms | p95 ms | p99 ms | failed requests | failed or unfinished executions | accepted but not created | executions |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map(
      (s) =>
        `| ${s.name} | ${s.eps.toFixed(1)} | ${(s.eps / b.eps).toFixed(2)} | ${s.rps.toFixed(1)} | ${s.p50.toFixed(0)} | ${s.p95.toFixed(0)} | ${s.p99.toFixed(0)} | ${s.failedRequests} | ${s.failedExecutions} | ${s.lost} | ${s.executions} |`,
    ),
    "",
    "CPU milliseconds per execution (from /proc, whole process trees: PostgreSQL includes its backends, n8n its task runner):",
    "",
    `| variant | ${kinds.join(" | ")} | total |`,
    `|---|${kinds.map(() => "---").join("|")}|---|`,
    ...rows.map(
      (s) =>
        `| ${s.name} | ${kinds.map((k) => (s.cpu[k] ?? 0).toFixed(1)).join(" | ")} | ${Object.values(s.cpu)
          .reduce((t, x) => t + x, 0)
          .toFixed(1)} |`,
    ),
    "",
    "Resident memory of the largest n8n process of each role, MiB: idle after start, before the load / peak (VmHWM, start-up included):",
    "",
    `| variant | ${ROLES.join(" | ")} |`,
    `|---|${ROLES.map(() => "---").join("|")}|`,
    ...rows.map(
      (s) =>
        `| ${s.name} | ${ROLES.map((k) => (s.rss[k] ? `${(s.idleRss[k] ?? 0).toFixed(0)} / ${(s.rss[k] ?? 0).toFixed(0)}` : "-")).join(" | ")} |`,
    ),
    "",
    `Ratio a/b: executions/s ${(a.eps / b.eps).toFixed(2)}, requests/s ${(a.rps / b.rps).toFixed(2)}.`,
    "",
  ].join("\n");
  publish(report);
}

let extras: Variant[] = [];
try {
  extras = extraVariants(process.argv.slice(2));
} catch (err) {
  // A mistyped option is the user's: say what is wrong, no stack trace.
  process.stderr.write(`bench:cluster: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
main(extras).catch(async (err: unknown) => {
  await stopAll();
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
