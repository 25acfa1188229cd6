/**
 * P2: the cluster configuration under load. `npm run bench:cluster` drives the same webhook -> Set
 * workflow against (a) n8n with the env, args, Redis and PostgreSQL settings the staging stack
 * renders and (b) n8n's own queue-mode defaults (concurrency 10, pool size 2, save everything, one
 * worker, stock PostgreSQL and Redis), on this machine, in alternating order, and appends requests/s,
 * executions/s, latency percentiles and failures to bench/RESULTS.md with the ratio a/b.
 * Needs what `bash scripts/real-setup.sh` installs and a render of staging.
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import {
  importAndPublish,
  loopbackOverrides,
  N8N,
  type N8nProcess,
  prepareDatabase,
  SET_NODE,
  startN8n,
  webhookWorkflow,
} from "../test/real/n8n-stack";
import { startPostgres } from "../test/real/postgres";
import { startRedis } from "../test/real/redis-server";
import {
  containerOf,
  find,
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
} from "../test/real/support";
import { median, publish } from "./results";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const STACK = "staging";

type Variant = "a: rendered staging" | "b: n8n defaults";

interface Result {
  variant: Variant;
  requests: number;
  ok: number;
  failedRequests: number;
  requestsPerSecond: number;
  executions: number;
  failedExecutions: number;
  executionsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** Fixed connections, fixed duration: each connection sends the next request when the last answered. */
async function drive(url: string) {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  const started = performance.now();
  const end = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      let i = 0;
      while (performance.now() < end) {
        const t = performance.now();
        try {
          const res = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ i: `${c}-${i++}` }),
          });
          await res.arrayBuffer();
          if (res.status === 200) ok++;
          else failed++;
        } catch {
          failed++;
        }
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { latencies: latencies.sort((a, b) => a - b), ok, failed, seconds: (performance.now() - started) / 1000 };
}

/** One variant: fresh PostgreSQL, Redis, main and one worker; load; drain; count. */
async function run(variant: Variant): Promise<Result> {
  const list = manifests(STACK);
  const rendered = variant.startsWith("a");
  const dirs: string[] = [];
  const superuser = secretValue("n8n-postgres-credentials", "superuser-password");
  try {
    let pgParams: Record<string, string> = {};
    if (rendered) {
      const spilo = JSON.parse(
        containerOf(find(list, "StatefulSet", "n8n-postgres"), "postgres").env?.find(
          (e) => e.name === "SPILO_CONFIGURATION",
        )?.value ?? "{}",
      ) as {
        bootstrap: { dcs: { postgresql: { parameters: Record<string, string> } } };
        postgresql: { parameters: Record<string, string> };
      };
      pgParams = {
        ...spilo.bootstrap.dcs.postgresql.parameters,
        ...spilo.postgresql.parameters,
        archive_command: "/bin/true",
      };
    }
    const pg = await startPostgres(pgParams, undefined, undefined, superuser);
    dirs.push(pg.dir);
    prepareDatabase(list, pg);

    let redisPort: number;
    let redisPassword: string;
    if (rendered) {
      const redis = await startRedis(STACK);
      dirs.push(redis.dir);
      redisPort = redis.port;
      redisPassword = redis.password;
    } else {
      redisPort = await freePort();
      redisPassword = secretValue("n8n-redis-credentials", "password");
      const dir = scratchDir("redis-defaults");
      dirs.push(dir);
      writeFile(
        join(dir, "redis.conf"),
        `bind 127.0.0.1\nport ${redisPort}\ndir ${dir}\nrequirepass "${redisPassword}"\n`,
      );
      new Server("redis-defaults", "redis-server", [join(dir, "redis.conf")]);
      await new Promise((r) => setTimeout(r, 500));
    }

    const envFor = async (deployment: string, role: string) => {
      const dir = scratchDir(`${role}-${rendered ? "a" : "b"}`);
      dirs.push(dir);
      const port = await freePort();
      const l = { port, brokerPort: await freePort(), userFolder: dir, pgPort: pg.port, redisPort, role };
      if (rendered) {
        const c = containerOf(find(list, "Deployment", deployment), "n8n");
        return { port, args: c.args ?? [], env: resolveEnv(c, loopbackOverrides(l)) };
      }
      // n8n's own defaults: only what queue mode and the connection strictly need.
      const rendersPassword = resolveEnv(containerOf(find(list, "Deployment", deployment), "n8n"));
      const env: Record<string, string> = {
        ...loopbackOverrides(l),
        EXECUTIONS_MODE: "queue",
        DB_TYPE: "postgresdb",
        DB_POSTGRESDB_DATABASE: "n8n",
        DB_POSTGRESDB_USER: "n8n",
        DB_POSTGRESDB_PASSWORD: rendersPassword.DB_POSTGRESDB_PASSWORD as string,
        QUEUE_BULL_REDIS_PASSWORD: redisPassword,
        N8N_ENCRYPTION_KEY: rendersPassword.N8N_ENCRYPTION_KEY as string,
        ...(role === "worker" ? { QUEUE_HEALTH_CHECK_ACTIVE: "true" } : {}),
      };
      return { port, args: role === "worker" ? ["worker", "--concurrency=10"] : ["start"], env };
    };

    const id = `bench${randomUUID().replaceAll("-", "").slice(0, 11)}`;
    const path = `bench-${randomUUID()}`;
    const cli = await envFor("n8n-main", "cli");
    importAndPublish(cli.env, cli.env.N8N_USER_FOLDER as string, [webhookWorkflow(id, path, SET_NODE)]);
    const procs: N8nProcess[] = [];
    for (const [deployment, role] of [
      ["n8n-main", "main"],
      ["n8n-worker", "worker"],
    ] as const) {
      const e = await envFor(deployment, role);
      procs.push(await startN8n(`${role}-${rendered ? "a" : "b"}`, e.args, e.env, e.port));
    }
    const main = procs[0] as N8nProcess;

    const load = await drive(`http://127.0.0.1:${main.port}/webhook/${path}`);
    const count = (where: string) =>
      Number(pg.psql(`SELECT count(*) FROM execution_entity WHERE "workflowId" = '${id}' AND ${where}`, "n8n"));
    await waitFor(
      "the queue to drain",
      () => (count("status IN ('success', 'error', 'crashed')") >= load.ok ? true : undefined),
      300_000,
      1_000,
    ).catch(() => undefined);
    const span = Number(
      pg.psql(
        `SELECT coalesce(extract(epoch FROM max("stoppedAt") - min("startedAt")), 0) FROM execution_entity WHERE "workflowId" = '${id}' AND status = 'success'`,
        "n8n",
      ),
    );
    const executions = count("status = 'success'");
    return {
      variant,
      requests: load.latencies.length,
      ok: load.ok,
      failedRequests: load.failed,
      requestsPerSecond: load.ok / load.seconds,
      executions,
      failedExecutions: count("status <> 'success'"),
      executionsPerSecond: span > 0 ? executions / span : 0,
      p50: percentile(load.latencies, 50),
      p95: percentile(load.latencies, 95),
      p99: percentile(load.latencies, 99),
    };
  } finally {
    await stopAll();
    for (const d of dirs) removeDir(d);
  }
}

async function main() {
  if (!existsSync(N8N)) throw new Error("run `bash scripts/real-setup.sh` first");
  const results: Result[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order: Variant[] =
      round % 2 === 0 ? ["a: rendered staging", "b: n8n defaults"] : ["b: n8n defaults", "a: rendered staging"];
    for (const v of order) {
      const r = await run(v);
      process.stderr.write(`${JSON.stringify(r)}\n`);
      results.push(r);
    }
  }
  const of = (v: Variant) => results.filter((r) => r.variant === v);
  const summary = (v: Variant) => {
    const rs = of(v);
    const m = (f: (r: Result) => number) => median(rs.map(f));
    return {
      rps: m((r) => r.requestsPerSecond),
      eps: m((r) => r.executionsPerSecond),
      p50: m((r) => r.p50),
      p95: m((r) => r.p95),
      p99: m((r) => r.p99),
      failedRequests: rs.reduce((t, r) => t + r.failedRequests, 0),
      failedExecutions: rs.reduce((t, r) => t + r.failedExecutions, 0),
      executions: rs.reduce((t, r) => t + r.executions, 0),
    };
  };
  const a = summary("a: rendered staging");
  const b = summary("b: n8n defaults");
  const row = (name: string, s: ReturnType<typeof summary>) =>
    `| ${name} | ${s.rps.toFixed(1)} | ${s.eps.toFixed(1)} | ${s.p50.toFixed(0)} | ${s.p95.toFixed(0)} | ${s.p99.toFixed(0)} | ${s.failedRequests} | ${s.failedExecutions} | ${s.executions} |`;
  const report = [
    `## P2: the cluster configuration (${new Date().toISOString()})`,
    "",
    `Machine: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, everything on this one machine (load generator, n8n main and one worker, PostgreSQL 15, Redis). n8n ${N8N_VERSION}. Command: \`npm run bench:cluster\` (${CONNECTIONS} connections, ${SECONDS} s per run, ${ROUNDS} rounds in alternating order; medians).`,
    "",
    "| variant | requests/s | executions/s | p50 ms | p95 ms | p99 ms | failed requests | failed executions | executions |",
    "|---|---|---|---|---|---|---|---|---|",
    row("a: rendered staging", a),
    row("b: n8n defaults", b),
    "",
    `Ratio a/b: requests/s ${(a.rps / b.rps).toFixed(2)}, executions/s ${(a.eps / b.eps).toFixed(2)}.`,
    "",
  ].join("\n");
  publish(report);
}

main().catch(async (err: unknown) => {
  await stopAll();
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
