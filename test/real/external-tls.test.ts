/**
 * postgres.mode / redis.mode "external" against real servers with a test CA (issue 15, item 2):
 * PostgreSQL 15 with ssl=on and Redis with only a tls-port, both serving a certificate the test CA
 * signed for localhost. n8n main and a worker run with the rendered Deployments' env, and the CA
 * bundles reach them the way the kubelet projects the rendered volumes (Secret or ConfigMap key ->
 * ca.crt under the mount path). Then the same with a bundle of another CA: n8n must refuse the
 * server, which shows the certificate is checked and not only encrypted.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../../render/manifests";
import { importAndPublish, N8N, NODE, ownerPasswordHash, SET_NODE, startN8n, webhookWorkflow } from "../../support/n8n";
import { type Postgres, startPostgres } from "../../support/postgres";
import {
  containerOf,
  freePort,
  N8N_VERSION,
  removeDir,
  Server,
  scratchDir,
  stopAll,
  waitFor,
} from "../../support/servers";
import { makeCa, signCertificate } from "../../support/tls";
import { findManifest, runProgram } from "../harness";

const DB_PASSWORD = "external-db-password-0123456789abcdef";
const REDIS_PASSWORD = "external-redis-password-0123456789abcdef";
const ENCRYPTION_KEY = "external-tls-encryption-key-0123456789abcdef";
const RUNNERS_TOKEN = "external-tls-runners-token-0123456789abcdef";
/** OpenSSL's verification failures as Node reports them (an unknown issuer, seen from either client). */
const CERT_REFUSED = /unable to verify the first certificate|self-signed certificate in certificate chain/;

type Objects = Record<string, Record<string, string>>;

/**
 * The kubelet's part for one container: env values (secretKeyRef from `objects`), and each volume
 * of a Secret or ConfigMap projected into a local directory standing in for its mount path.
 */
function kubelet(deployment: Manifest, objects: Objects, root: string) {
  const c = containerOf(deployment, "n8n");
  const pod = (deployment.spec as { template: { spec: { volumes?: Record<string, unknown>[] } } }).template.spec;
  const mounts: Record<string, string> = {};
  for (const m of (c as { volumeMounts?: { name: string; mountPath: string }[] }).volumeMounts ?? []) {
    const v = pod.volumes?.find((x) => x.name === m.name) as
      | {
          secret?: { secretName: string; items: { key: string; path: string }[] };
          configMap?: { name: string; items: { key: string; path: string }[] };
        }
      | undefined;
    const source = v?.secret
      ? `Secret/${v.secret.secretName}`
      : v?.configMap
        ? `ConfigMap/${v.configMap.name}`
        : undefined;
    if (!source) continue;
    const local = join(root, m.name);
    mkdirSync(local, { recursive: true });
    for (const item of (v?.secret ?? v?.configMap)?.items ?? []) {
      const data = objects[source]?.[item.key];
      if (data === undefined) throw new Error(`${source} has no key ${item.key}`);
      writeFileSync(join(local, item.path), data);
    }
    mounts[m.mountPath] = local;
  }
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    let value = ref ? objects[`Secret/${ref.name}`]?.[ref.key] : e.value;
    if (value === undefined) throw new Error(`no value for ${e.name}`);
    for (const [path, local] of Object.entries(mounts))
      if (value.startsWith(`${path}/`)) value = local + value.slice(path.length);
    env[e.name] = value;
  }
  return { args: c.args ?? [], env };
}

describe("n8n against external PostgreSQL and Redis over verified TLS", () => {
  const dirs: string[] = [];
  let pg: Postgres;
  let redisPort: number;
  let main: Manifest;
  let worker: Manifest;
  let objects: Objects;
  let otherCa: string;
  let tls: string;

  /** redis-cli as n8n's ACL user over TLS, trusting the test CA; its output. */
  const redisCli = (args: string[]) =>
    spawnSync(
      "redis-cli",
      [
        "--tls",
        "--cacert",
        join(tls, "test-ca.crt"),
        "-h",
        "localhost",
        "-p",
        String(redisPort),
        "--user",
        "n8n",
        "--pass",
        REDIS_PASSWORD,
        ...args,
      ],
      { encoding: "utf8" },
    ).stdout.trim();

  /** n8n <role> with the rendered env on loopback ports; `objects` as the cluster holds them. */
  const plan = async (deployment: Manifest, objs: Objects, role: "main" | "worker" | "cli") => {
    const dir = scratchDir(`n8n-ext-${role}`);
    dirs.push(dir);
    const { args, env } = kubelet(deployment, objs, join(dir, "mounts"));
    const port = await freePort();
    // Loopback substitutions only: n8n's own port, its folder, the runner broker's port. The
    // database and Redis addresses stay as rendered ("localhost"), so the certificate check is real.
    Object.assign(env, {
      HOME: dir,
      N8N_USER_FOLDER: dir,
      N8N_LISTEN_ADDRESS: "127.0.0.1",
      N8N_PORT: String(port),
      N8N_RUNNERS_BROKER_PORT: String(await freePort()),
      ...(role === "worker" ? { QUEUE_HEALTH_CHECK_PORT: String(port) } : {}),
    });
    return { args: role === "cli" ? [] : args, env, port };
  };

  beforeAll(async () => {
    if (!existsSync(N8N)) throw new Error(`n8n ${N8N_VERSION} is not installed: run bash scripts/real-setup.sh`);
    tls = scratchDir("tls");
    dirs.push(tls);
    const testCa = makeCa(tls, "test-ca");
    const ca = testCa.crt;
    otherCa = makeCa(tls, "other-ca").crt;
    const server = signCertificate(tls, testCa, ["localhost", "IP:127.0.0.1"]);

    // PostgreSQL: the test CA's certificate, n8n's role and database.
    pg = await startPostgres();
    dirs.push(pg.dir);
    for (const [from, to] of [
      [server.crt, "ext.crt"],
      [server.key, "ext.key"],
    ] as const) {
      writeFileSync(join(pg.dir, to), readFileSync(from));
      spawnSync("chown", ["postgres:postgres", join(pg.dir, to)]);
    }
    spawnSync("chmod", ["600", join(pg.dir, "ext.key")]);
    await pg.server.stop();
    pg = await startPostgres(
      { ssl_cert_file: join(pg.dir, "ext.crt"), ssl_key_file: join(pg.dir, "ext.key") },
      pg.dir,
      pg.port,
    );
    pg.psql(`CREATE ROLE n8n LOGIN PASSWORD '${DB_PASSWORD}'`);
    pg.psql("CREATE DATABASE n8n OWNER n8n");

    // Redis: TLS only (port 0), an ACL user for n8n, the default user off.
    redisPort = await freePort();
    const conf = join(tls, "redis.conf");
    writeFileSync(
      conf,
      [
        "bind 127.0.0.1",
        "port 0",
        `tls-port ${redisPort}`,
        `tls-cert-file ${server.crt}`,
        `tls-key-file ${server.key}`,
        `tls-ca-cert-file ${ca}`,
        "tls-auth-clients no",
        `dir ${tls}`,
        `user n8n on >${REDIS_PASSWORD} ~* &* +@all`,
        "user default off",
      ].join("\n"),
    );
    new Server("redis-tls", "redis-server", [conf]);
    await waitFor("redis over TLS", () => redisCli(["ping"]) === "PONG" || undefined, 30_000);

    const run = await runProgram("external-tls", {
      domain: "n8n.example.com",
      postgres: {
        mode: "external",
        external: {
          host: "localhost",
          port: pg.port,
          sslMode: "verify-full",
          ca: { secret: "db-ca" },
          cidrs: ["127.0.0.1/32"],
        },
      },
      redis: {
        mode: "external",
        external: {
          host: "localhost",
          port: redisPort,
          username: "n8n",
          tls: true,
          ca: { configMap: "redis-ca", key: "bundle.pem" },
          cidrs: ["127.0.0.1/32"],
        },
      },
      secrets: {
        existing: {
          encryptionKey: { name: "n8n-keys", key: "encryption-key" },
          runnersAuthToken: { name: "n8n-keys", key: "runners" },
          postgresPassword: { name: "db", key: "password" },
          redisPassword: { name: "redis", key: "password" },
        },
      },
    });
    main = findManifest(run, "Deployment", "n8n-main");
    worker = findManifest(run, "Deployment", "n8n-worker");
    objects = {
      "Secret/n8n-keys": { "encryption-key": ENCRYPTION_KEY, runners: RUNNERS_TOKEN },
      "Secret/n8n-core": { "owner-password-hash": ownerPasswordHash() },
      "Secret/db": { password: DB_PASSWORD },
      "Secret/redis": { password: REDIS_PASSWORD },
      "Secret/db-ca": { "ca.crt": readFileSync(ca, "utf8") },
      "ConfigMap/redis-ca": { "bundle.pem": readFileSync(ca, "utf8") },
    };
  });

  afterAll(async () => {
    await stopAll();
    for (const d of dirs) removeDir(d);
  });

  it("main and a worker start with the rendered env and CA bundles, and a webhook execution runs on the worker", async () => {
    const cli = await plan(main, objects, "cli");
    // The migrations run here, over the verified connection, as on main's first start.
    importAndPublish(cli.env, cli.env.N8N_USER_FOLDER as string, [webhookWorkflow("ext-tls-1", "ext-tls", SET_NODE)]);
    const m = await plan(main, objects, "main");
    const mainProc = await startN8n("n8n-main-ext", m.args, m.env, m.port);
    const w = await plan(worker, objects, "worker");
    await startN8n("n8n-worker-ext", w.args, w.env, w.port);

    const res = await fetch(`http://127.0.0.1:${mainProc.port}/webhook/ext-tls`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ i: 1 }),
    });
    expect(res.status).toBe(200);
    const done = await waitFor(
      "the execution to succeed",
      () => Number(pg.psql(`SELECT count(*) FROM execution_entity WHERE status = 'success'`, "n8n")) || undefined,
      120_000,
    );
    expect(done).toBe(1);
    // Every connection of n8n's user is encrypted (pg_stat_ssl), and Redis has n8n's clients on TLS only.
    const ssl = pg.psql(
      "SELECT s.ssl, count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'n8n' GROUP BY 1",
    );
    expect(ssl.split("\n")).toEqual([expect.stringMatching(/^t\|[1-9][0-9]*$/)]);
    const clients = redisCli(["client", "list"]);
    expect(clients.split("\n").filter((l) => l.includes("user=n8n")).length).toBeGreaterThan(1);
  });

  /** main with one CA bundle replaced by another CA's: its client must log the refusal, and main never gets ready. */
  const refused = async (object: string, key: string, client: string) => {
    const wrong = { ...objects, [object]: { [key]: readFileSync(otherCa, "utf8") } };
    const m = await plan(main, wrong, "main");
    const proc = new Server(`n8n-main-wrong-${key}`, NODE, [N8N, ...m.args], { env: m.env });
    const line = await waitFor(
      `n8n to refuse the certificate (${client})`,
      () => proc.output.find((l) => l.includes(client) && CERT_REFUSED.test(l)),
      120_000,
    );
    const ready = await fetch(`http://127.0.0.1:${m.port}/healthz/readiness`)
      .then((r) => r.status)
      .catch(() => 0);
    await proc.kill();
    return { line, ready };
  };

  it("a PostgreSQL certificate from another CA is refused", async () => {
    const { line, ready } = await refused("Secret/db-ca", "ca.crt", "database connection");
    expect(line).toMatch(CERT_REFUSED);
    expect(ready).not.toBe(200);
  });

  it("a Redis certificate from another CA is refused", async () => {
    const { line, ready } = await refused("ConfigMap/redis-ca", "bundle.pem", "[Redis client]");
    expect(line).toMatch(CERT_REFUSED);
    expect(ready).not.toBe(200);
  });
});
