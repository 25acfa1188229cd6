/**
 * Patroni failover with the rendered timings and synchronous mode (prod): three members of
 * Debian's patroni + postgresql-15 on loopback. The one substitution is the DCS: etcd stands in for
 * the Kubernetes API. Also local: ports, data directories, a throwaway TLS certificate, the WAL-G
 * archive_command (/bin/true: no S3 here) and one pg_hba line that lets members replicate over
 * loopback (the rendered ones admit the pod CIDRs).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NAMES } from "../../components/kubernetes/names";
import { type Member, type PatroniCluster, startPatroni } from "../../support/patroni";
import {
  containerOf,
  find,
  manifests,
  removeDir,
  resolveEnv,
  scratchDir,
  stopAll,
  waitFor,
  writeFile,
} from "../../support/servers";

const stack = "prod";
const list = manifests(stack);
const PASSWORDS = {
  superuser: "test-superuser-0123456789abcdefghij",
  replication: "test-replication-0123456789abcdefg",
};

const dirs: string[] = [];
let cluster: PatroniCluster;
let spilo: PatroniCluster["spilo"];
let members: Member[];
const psql = (m: Member, sql: string) => cluster.psql(m, sql);
const role = (m: Member) => cluster.role(m);
const leader = (candidates: Member[]) => cluster.leader(candidates);

beforeAll(async () => {
  cluster = await startPatroni(list, PASSWORDS);
  spilo = cluster.spilo;
  members = cluster.members;
  dirs.push(...cluster.dirs);
});

afterAll(async () => {
  await stopAll();
  for (const d of dirs) removeDir(d);
});

describe("Patroni with the rendered timings", () => {
  it("runs synchronous mode with Patroni's timing rule", async () => {
    const { ttl, loop_wait, retry_timeout, synchronous_mode } = spilo.bootstrap.dcs as Record<string, number | boolean>;
    expect(synchronous_mode).toBe(true);
    expect((loop_wait as number) + 2 * (retry_timeout as number)).toBeLessThanOrEqual(ttl as number);
    const primary = (await leader(members)) as Member;
    await waitFor(
      "a synchronous standby",
      () => {
        const r = psql(primary, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'");
        return r.ok && Number(r.out) >= 1 ? true : undefined;
      },
      60_000,
      1_000,
    );
  });

  it("REST API: probes, metrics and state answer anyone; restart, failover and config changes need the credentials", async () => {
    const primary = (await leader(members)) as Member;
    const api = (m: Member, path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${m.apiPort}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
    for (const path of ["/liveness", "/readiness", "/metrics", "/patroni", "/cluster"]) {
      expect((await api(primary, path)).status, path).toBe(200);
    }
    const wrong = `Basic ${Buffer.from(`${spilo.restapi.authentication.username}:wrong-password`).toString("base64")}`;
    const unsafe: [string, RequestInit][] = [
      ["/restart", { method: "POST", body: "{}" }],
      ["/failover", { method: "POST", body: JSON.stringify({ candidate: "n8n-postgres-1" }) }],
      ["/reinitialize", { method: "POST", body: "{}" }],
      ["/config", { method: "PATCH", body: JSON.stringify({ ttl: 99 }) }],
    ];
    for (const [path, init] of unsafe) {
      expect((await api(primary, path, init)).status, `${path} without credentials`).toBe(401);
      expect((await api(primary, path, { ...init, headers: { Authorization: wrong } })).status, path).toBe(401);
    }
    expect(((await (await api(primary, "/config")).json()) as { ttl: number }).ttl).toBe(spilo.bootstrap.dcs.ttl);
  });

  it("the patroni-config Job's script applies a changed configuration to the running cluster", async () => {
    const files = find(list, "ConfigMap", NAMES.postgresPatroni).data as Record<string, string>;
    const job = containerOf(find(list, "Job", NAMES.postgresPatroniConfig), "patroni-config");
    const dir = scratchDir("patroni-config");
    dirs.push(dir);
    writeFile(join(dir, "apply-dcs.py"), files["apply-dcs.py"] as string);
    const dcs = JSON.parse(files["dcs.json"] as string);
    const maxConnections = Number(dcs.postgresql.parameters.max_connections);
    const changed = {
      ...dcs,
      postgresql: {
        parameters: {
          ...dcs.postgresql.parameters,
          work_mem: "7MB",
          log_min_duration_statement: "2500",
          max_connections: String(maxConnections + 10),
        },
      },
    };
    writeFile(join(dir, "dcs.json"), JSON.stringify(changed));
    const replica = members.find((m) => m !== members[0]) as Member;
    const apply = (overrides: Record<string, string>) =>
      spawnSync("python3", [join(dir, "apply-dcs.py")], {
        encoding: "utf8",
        timeout: 60_000,
        env: {
          ...resolveEnv(job),
          // Any member takes the change; the Job reaches them through the headless Service.
          PATRONI_URL: `http://127.0.0.1:${replica.apiPort}`,
          DCS_FILE: join(dir, "dcs.json"),
          WAIT_SECONDS: "30",
          ...overrides,
        },
      });
    const refused = apply({ RESTAPI_PASSWORD: "wrong-password" });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain("refused the REST API credentials");

    const r = apply({});
    expect(r.status, r.stderr).toBe(0);
    const primary = (await leader(members)) as Member;
    await waitFor(
      "the reloadable settings on the leader",
      () => {
        const wm = psql(primary, "SHOW work_mem");
        const slow = psql(primary, "SHOW log_min_duration_statement");
        return wm.out === "7MB" && slow.out === "2500ms" ? true : undefined;
      },
      60_000,
      1_000,
    );
    // max_connections takes a restart: Patroni marks the members, nothing restarted by itself.
    expect(psql(primary, "SHOW max_connections").out).toBe(String(maxConnections));
    await waitFor(
      "every member pending restart",
      async () => {
        const states = await Promise.all(
          members.map(
            async (m) =>
              ((await (await fetch(`http://127.0.0.1:${m.apiPort}/patroni`)).json()) as { pending_restart?: boolean })
                .pending_restart,
          ),
        );
        return states.every(Boolean) ? true : undefined;
      },
      60_000,
      1_000,
    );
    const metrics = await (await fetch(`http://127.0.0.1:${primary.apiPort}/metrics`)).text();
    expect(metrics).toMatch(/^patroni_pending_restart\{[^}]*\} 1$/m);
  });

  it("fails over after SIGKILL of the leader without losing a committed row", async () => {
    const primary = (await leader(members)) as Member;
    expect(psql(primary, "CREATE TABLE IF NOT EXISTS failover_probe (id int PRIMARY KEY)").ok).toBe(true);
    const committed: number[] = [];
    for (let i = 1; i <= 200; i++) {
      const r = psql(primary, `INSERT INTO failover_probe VALUES (${i})`);
      if (r.ok) committed.push(i);
      else {
        console.log("insert failed", i, r.err, await Promise.all(members.map(role)));
        console.log(members.map((m) => m.server.output.slice(-8).join("\n")).join("\n-----\n"));
        break;
      }
    }
    expect(committed).toHaveLength(200);

    const killedAt = Date.now();
    // Patroni and PostgreSQL both (Patroni starts the postmaster in a session of its own), as in a node crash.
    await cluster.kill(primary);
    expect(psql(primary, "SELECT 1").ok).toBe(false);
    const survivors = members.filter((m) => m !== primary);
    const promoted = await waitFor(
      "a new leader that accepts writes",
      async () => {
        const m = await leader(survivors);
        return m && psql(m, "INSERT INTO failover_probe VALUES (100000)").ok ? m : undefined;
      },
      180_000,
      250,
    );
    const seconds = (Date.now() - killedAt) / 1000;
    console.log(`failover: ${promoted.name} accepted writes ${seconds.toFixed(1)} s after the leader was killed`);
    const ttl = spilo.bootstrap.dcs.ttl as number;
    const loopWait = spilo.bootstrap.dcs.loop_wait as number;
    expect(seconds).toBeLessThan(ttl + 2 * loopWait + 15);

    const rows = psql(promoted, "SELECT id FROM failover_probe WHERE id <= 200 ORDER BY id")
      .out.split("\n")
      .map(Number);
    expect(rows).toEqual(committed);
  });
});
