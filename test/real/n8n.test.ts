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
import { HITL_SUFFIXES, N8N_ENDPOINTS } from "../../components/edge";
import {
  formWorkflow,
  importAndPublish,
  loopbackOverrides,
  mcpWorkflow,
  metric,
  N8N,
  type N8nProcess,
  NODE,
  prepareDatabase,
  SET_NODE,
  startN8n,
  waitingWorkflow,
  webhookWorkflow,
} from "../../support/n8n";
import { type Postgres, startPostgres } from "../../support/postgres";
import { type Redis, startRedis } from "../../support/redis";
import {
  CACHE,
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
} from "../../support/servers";
import { ingressEdgeOf, startIngressProxy } from "./ingress-proxy";

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

type Process = N8nProcess;

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
  const token = () => randomUUID().replaceAll("-", "").slice(0, 12);
  const routing = {
    form: { id: `form${token()}`, path: `form-${randomUUID()}`, title: `Form ${token()}` },
    waitHook: { id: `whook${token()}`, path: `wait-${randomUUID()}` },
    waitForm: { id: `wform${token()}`, path: `waitform-${randomUUID()}`, title: `Resume ${token()}` },
    mcp: { id: `mcp${token()}`, path: `mcp-${randomUUID()}` },
  };

  /** The process env of a rendered n8n container, moved to loopback. */
  async function n8nEnv(deployment: string, role: string, userFolder: string) {
    const port = await freePort();
    const brokerPort = await freePort();
    brokerPorts[role] = brokerPort;
    const c = containerOf(find(list, "Deployment", deployment), "n8n");
    const overrides = loopbackOverrides({ port, brokerPort, userFolder, pgPort: pg.port, redisPort: redis.port, role });
    return { port, args: c.args ?? [], env: resolveEnv(c, overrides) };
  }

  async function startProcess(name: string): Promise<Process> {
    const dir = scratchDir(name);
    dirs.push(dir);
    const { port, args, env } = await n8nEnv(name, name.replace("n8n-", ""), dir);
    return startN8n(name, args, env, port);
  }

  beforeAll(async () => {
    if (!existsSync(N8N)) throw new Error(`n8n ${N8N_VERSION} is not installed: run bash scripts/real-setup.sh`);
    // The superuser password is the Secret's, so the Job's own env works unchanged.
    pg = await startPostgres({}, undefined, undefined, secretValue("n8n-postgres-credentials", "superuser-password"));
    dirs.push(pg.dir);
    prepareDatabase(list, pg);
    redis = await startRedis(stack);
    dirs.push(redis.dir);

    // Import and publish the workflows with the n8n CLI, as main will see them: a webhook -> Set
    // workflow, and a webhook -> Code one answering with its last node (the Code node runs in a task runner).
    const cliDir = scratchDir("n8n-cli");
    dirs.push(cliDir);
    const { env: cliEnv } = await n8nEnv("n8n-main", "cli", cliDir);
    const code = {
      name: "Code",
      type: "n8n-nodes-base.code",
      typeVersion: 2,
      parameters: { jsCode: "return [{ json: { doubled: $input.first().json.body.i * 2 } }];" },
    };
    importAndPublish(cliEnv, cliDir, [
      webhookWorkflow(workflowId, path, SET_NODE),
      webhookWorkflow(codeWorkflowId, codePath, code, "lastNode"),
      // One workflow per kind of production endpoint, for the routing test.
      formWorkflow(routing.form.id, routing.form.path, routing.form.title),
      waitingWorkflow(routing.waitHook.id, routing.waitHook.path, "webhook", ""),
      waitingWorkflow(routing.waitForm.id, routing.waitForm.path, "form", routing.waitForm.title),
      mcpWorkflow(routing.mcp.id, routing.mcp.path),
    ]);

    procs.main = await startProcess("n8n-main");
    for (const name of deployments.filter((d) => d !== "n8n-main")) procs[name] = await startProcess(name);
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

  it("the app role carries the statement timeout n8n no longer sets per query", () => {
    const env = resolveEnv(containerOf(find(list, "Deployment", "n8n-main"), "n8n"));
    expect(env.DB_POSTGRESDB_STATEMENT_TIMEOUT).toBe("0");
    const job = resolveEnv(containerOf(find(list, "Job", "n8n-postgres-bootstrap"), "bootstrap"));
    const roleSettings = pg.psql(
      "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = 'n8n'",
    );
    expect(roleSettings).toBe(`statement_timeout=${job.APP_STATEMENT_TIMEOUT}`);
    // A session of the app role gets it from the server at login.
    const session = spawnSync(
      "psql",
      [
        "-X",
        "-At",
        "-h",
        "127.0.0.1",
        "-p",
        String(pg.port),
        "-U",
        "n8n",
        "-d",
        "n8n",
        "-c",
        `SELECT current_setting('statement_timeout')::interval = interval '${job.APP_STATEMENT_TIMEOUT}'`,
      ],
      {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "", PGPASSWORD: env.DB_POSTGRESDB_PASSWORD, PGGSSENCMODE: "disable" },
      },
    );
    expect(session.stderr).toBe("");
    expect(session.stdout.trim()).toBe("t");
  });

  it("routes every production endpoint to the process that serves it, through nginx configured from the Ingress edge's objects", async () => {
    const processes = procs as Record<string, Process>;
    const productionProcess = processes["n8n-webhook"] ?? (processes.main as Process);
    // The Gateway edge is proven on Envoy Gateway (test/engine/gateway.test.ts); this is the Ingress edge.
    const ingresses = ingressEdgeOf(stack);
    const domain = (find(ingresses, "Ingress", "n8n-main").spec as { rules: { host: string }[] }).rules[0]
      ?.host as string;
    const services: Record<string, number> = { "n8n-main": (processes.main as Process).port };
    if (processes["n8n-webhook"]) services["n8n-webhook"] = processes["n8n-webhook"].port;
    const proxy = await startIngressProxy(ingresses, domain, services);
    const via = (p: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${proxy.port}${p}`, {
        ...init,
        headers: { host: domain, ...(init.headers as Record<string, string> | undefined) },
        signal: AbortSignal.timeout(30_000),
      });
    const upstream = (res: Response) => Number(res.headers.get("x-upstream")?.split(":").pop());
    const executionOf = (workflow: string, status: string) =>
      pg.psql(
        `SELECT id FROM execution_entity WHERE "workflowId" = '${workflow}' AND status = '${status}' LIMIT 1`,
        "n8n",
      );

    // The endpoint names are the pinned n8n's own (its EndpointsConfig and HITL suffixes).
    const n8nModules = join(CACHE, `n8n-${N8N_VERSION}`, "node_modules");
    const read = spawnSync(
      NODE,
      [
        "-e",
        'require("reflect-metadata"); const { Container } = require("@n8n/di"); const { GlobalConfig } = require("@n8n/config");' +
          'const core = require("n8n-core"); console.log(JSON.stringify({ e: Container.get(GlobalConfig).endpoints,' +
          "hitl: [core.SLACK_HITL_WEBHOOK_SUFFIX, core.TELEGRAM_HITL_WEBHOOK_SUFFIX] }))",
      ],
      { cwd: n8nModules, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } },
    );
    const pinned = JSON.parse(read.stdout.trim().split("\n").pop() as string) as {
      e: Record<string, string>;
      hitl: string[];
    };
    for (const group of Object.values(N8N_ENDPOINTS))
      for (const [key, name] of Object.entries(group)) expect(pinned.e[key], key).toBe(name);
    expect(pinned.hitl).toEqual([...HITL_SUFFIXES]);

    // Production form: the webhook processor (or main without them) renders it.
    const form = await via(`/form/${routing.form.path}`);
    expect(upstream(form)).toBe(productionProcess.port);
    expect(form.status).toBe(200);
    expect(await form.text()).toContain(routing.form.title);

    // webhook-waiting and form-waiting: start an execution that waits; it answers with its signed
    // resume URLs (on the public host), which must work through the proxy.
    const resumeUrls = async (workflowPath: string) => {
      const res = await via(`/webhook/${workflowPath}`, { method: "POST", body: "{}" });
      expect(res.status).toBe(200);
      const urls = (await res.json()) as { resume: string; form: string };
      const local = (u: string) => {
        const url = new URL(u);
        expect(url.host).toBe(domain);
        return `${url.pathname}${url.search}`;
      };
      return { resume: local(urls.resume), form: local(urls.form) };
    };
    const hook = await resumeUrls(routing.waitHook.path);
    expect(hook.resume.startsWith(`/${N8N_ENDPOINTS.production.webhookWaiting}/`)).toBe(true);
    await waitFor("a waiting execution", () => executionOf(routing.waitHook.id, "waiting") || undefined, 60_000, 500);
    // The Wait node's resume webhook listens for GET (its httpMethod default).
    const resumed = await via(hook.resume);
    expect(upstream(resumed)).toBe(productionProcess.port);
    expect(resumed.status, await resumed.clone().text()).toBe(200);
    await waitFor(
      "the resumed execution to succeed",
      () => executionOf(routing.waitHook.id, "success") || undefined,
      60_000,
      500,
    );

    const waitForm = await resumeUrls(routing.waitForm.path);
    expect(waitForm.form.startsWith(`/${N8N_ENDPOINTS.production.formWaiting}/`)).toBe(true);
    await waitFor(
      "a waiting form execution",
      () => executionOf(routing.waitForm.id, "waiting") || undefined,
      60_000,
      500,
    );
    const page = await via(waitForm.form);
    expect(upstream(page)).toBe(productionProcess.port);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(routing.waitForm.title);

    // MCP (streamable HTTP): initialize answers with the server's capabilities.
    const mcp = await via(`/mcp/${routing.mcp.path}`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "routing-test", version: "1" } },
      }),
    });
    expect(upstream(mcp)).toBe(productionProcess.port);
    expect(mcp.status).toBe(200);
    expect(await mcp.text()).toContain("serverInfo");

    // Human-in-the-loop callbacks (exact paths) go where webhook-waiting goes.
    for (const suffix of HITL_SUFFIXES) {
      const res = await via(`/${N8N_ENDPOINTS.production.webhookWaiting}${suffix}`, { method: "POST", body: "{}" });
      expect(upstream(res), suffix).toBe(productionProcess.port);
    }
    // Test endpoints only main serves.
    for (const name of Object.values(N8N_ENDPOINTS.test)) {
      const res = await via(`/${name}/${randomUUID()}`);
      expect(upstream(res), name).toBe((processes.main as Process).port);
    }
    await proxy.server.stop();
  });

  it("the owner exists from the first start: it logs in with the generated password, and nobody can claim the instance", async () => {
    const main = procs.main as Process;
    const env = resolveEnv(containerOf(find(list, "Deployment", "n8n-main"), "n8n"));
    const email = env.N8N_INSTANCE_OWNER_EMAIL as string;
    expect(email).toMatch(/^owner@/);
    const rest = (path: string, body: unknown) =>
      fetch(`http://127.0.0.1:${main.port}/rest/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    const password = secretValue("n8n-core", "owner-password");
    const login = await rest("login", { emailOrLdapLoginId: email, password });
    expect(login.status, await login.clone().text()).toBe(200);
    expect(((await login.json()) as { data: { role: string } }).data.role).toBe("global:owner");
    expect((await rest("login", { emailOrLdapLoginId: email, password: "not-the-password-0123456789" })).status).toBe(
      401,
    );
    const claim = await rest("owner/setup", {
      email: "intruder@example.com",
      firstName: "I",
      lastName: "N",
      password: "Intruder-Password-123",
    });
    expect(claim.status).toBe(400);
  });

  it("logs no deprecated or unknown setting", () => {
    for (const [name, p] of Object.entries(procs)) {
      expect(p.server.output.length, name).toBeGreaterThan(0);
      const bad = p.server.output.filter(warnsAboutSettings);
      expect(bad, name).toEqual([]);
    }
  });
});
