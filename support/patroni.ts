/**
 * A Patroni cluster from a stack's rendered SPILO_CONFIGURATION: Debian's patroni + postgresql-15
 * on loopback. The DCS is etcd (standing in for the Kubernetes API) unless `kubernetes` is given:
 * then it is the real API server of the engine loop, with the `kubernetes` section Spilo's own
 * configure_spilo.py wrote from the rendered env (ConfigMaps, scope and role labels, labels) and a
 * kubeconfig holding the rendered ServiceAccount's token, so the API server's RBAC authorizer judges
 * every call by the rendered Role. Each member's pod object must exist (the rendered StatefulSet's,
 * on kwok nodes): Patroni writes its role label and state there. Also local: ports, data
 * directories, a throwaway TLS certificate, the WAL-G archive_command (/bin/true: no S3 here) and
 * one pg_hba line that lets members replicate over loopback (the rendered ones admit the pod CIDRs).
 * Used by test/real/patroni.test.ts and the database failover of test/faults.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import type { Manifest } from "../render/manifests";
import { type SpiloConfiguration, serverCertificate, spiloConfiguration, superuserPsql } from "./postgres";
import { freePort, Server, scratchDir, waitFor, writeFile } from "./servers";

export interface Member {
  name: string;
  pgPort: number;
  apiPort: number;
  dir: string;
  server: Server;
}

export interface PatroniCluster {
  spilo: SpiloConfiguration;
  members: Member[];
  dirs: string[];
  superuserPassword: string;
  role(m: Member): Promise<string | undefined>;
  leader(candidates?: Member[]): Promise<Member | undefined>;
  psql(m: Member, sql: string, database?: string): { ok: boolean; out: string; err: string };
  /**
   * SIGKILLs a member's Patroni and its PostgreSQL, as a container's or a node's death does. Patroni
   * starts the postmaster in a session of its own, so killing Patroni alone leaves PostgreSQL up.
   */
  kill(m: Member): Promise<void>;
  /** Starts a stopped member again with its data directory (a pod restarted on its volume). */
  restart(m: Member): void;
  /** PATCHes Patroni's dynamic configuration through a member's REST API, as the patroni-config Job does. */
  patchConfig(patch: Record<string, unknown>, via?: Member): Promise<Record<string, unknown>>;
}

/** Patroni's Kubernetes DCS: the section Spilo wrote, the namespace, and a kubeconfig readable by postgres. */
export interface KubernetesDcs {
  section: Record<string, unknown>;
  namespace: string;
  /** The kubeconfig of a member (its own ServiceAccount token, bound to its pod). */
  kubeconfig(member: string): string;
}

export interface PatroniOptions {
  size?: number;
  kubernetes?: KubernetesDcs;
  /** Extra dynamic configuration, written once at bootstrap (e.g. failsafe_mode). */
  dcs?: Record<string, unknown>;
}

export async function startPatroni(
  list: Manifest[],
  passwords: { superuser: string; replication: string },
  options: PatroniOptions = {},
): Promise<PatroniCluster> {
  const size = options.size ?? 3;
  const spilo = spiloConfiguration(list);
  const dirs: string[] = [];
  const members: Member[] = [];

  const psql = (m: Member, sql: string, database = "postgres") => {
    const r = superuserPsql(
      m.pgPort,
      passwords.superuser,
      sql,
      database,
      { PGCONNECT_TIMEOUT: "10", PGSSLMODE: "prefer" },
      20_000,
    );
    return { ok: r.status === 0, out: (r.stdout ?? "").trim(), err: `${r.status} ${r.error ?? ""} ${r.stderr ?? ""}` };
  };
  const role = async (m: Member) => {
    const res = await fetch(`http://127.0.0.1:${m.apiPort}/patroni`).catch(() => undefined);
    if (!res?.ok) return undefined;
    return ((await res.json()) as { role?: string }).role;
  };
  const leader = async (candidates: Member[] = members) => {
    for (const m of candidates) {
      const r = await role(m);
      if (r === "master" || r === "primary") return m;
    }
    return undefined;
  };

  const k8s = options.kubernetes;
  const dcs = k8s
    ? {
        kubernetes: {
          ...k8s.section,
          namespace: k8s.namespace,
          // The pod's own address in the member data; connections come through the Service stand-in.
          pod_ip: "127.0.0.1",
        },
      }
    : { etcd3: { hosts: [`127.0.0.1:${await startEtcd(dirs)}`] } };

  const config = (m: Member) => {
    const {
      ttl,
      loop_wait,
      retry_timeout,
      failsafe_mode,
      maximum_lag_on_failover,
      synchronous_mode,
      synchronous_mode_strict,
    } = spilo.bootstrap.dcs;
    return {
      scope: "n8n-postgres",
      name: m.name,
      restapi: {
        listen: `127.0.0.1:${m.apiPort}`,
        connect_address: `127.0.0.1:${m.apiPort}`,
        // As rendered: the password expanded from the Secret reference.
        authentication: spilo.restapi.authentication,
      },
      ...dcs,
      bootstrap: {
        dcs: {
          ttl,
          loop_wait,
          retry_timeout,
          failsafe_mode,
          maximum_lag_on_failover,
          synchronous_mode,
          synchronous_mode_strict,
          postgresql: { use_pg_rewind: true, use_slots: true, parameters: spilo.bootstrap.dcs.postgresql.parameters },
          ...options.dcs,
        },
        initdb: [{ encoding: "UTF8" }, "data-checksums"],
      },
      postgresql: {
        listen: `127.0.0.1:${m.pgPort}`,
        connect_address: `127.0.0.1:${m.pgPort}`,
        data_dir: join(m.dir, "data"),
        bin_dir: "/usr/lib/postgresql/15/bin",
        pgpass: join(m.dir, "pgpass"),
        authentication: {
          superuser: { username: "postgres", password: passwords.superuser },
          replication: { username: "standby", password: passwords.replication },
        },
        parameters: {
          ...spilo.postgresql.parameters,
          archive_command: "/bin/true",
          unix_socket_directories: m.dir,
          ssl_cert_file: join(m.dir, "server.crt"),
          ssl_key_file: join(m.dir, "server.key"),
        },
        pg_hba: ["host replication standby 127.0.0.1/32 scram-sha-256", ...spilo.postgresql.pg_hba],
      },
    };
  };
  const start = (m: Member) =>
    new Server(m.name, "runuser", ["-u", "postgres", "--", "patroni", join(m.dir, "patroni.yml")], {
      env: k8s ? { KUBECONFIG: k8s.kubeconfig(m.name) } : {},
    });

  for (let i = 0; i < size; i++) {
    const dir = scratchDir(`patroni${i}`, "postgres");
    dirs.push(dir);
    const m = { name: `n8n-postgres-${i}`, pgPort: await freePort(), apiPort: await freePort(), dir } as Member;
    serverCertificate(dir);
    writeFile(join(dir, "patroni.yml"), stringify(config(m)), "postgres");
    members.push(m);
  }
  // The first member bootstraps the cluster; the others clone from it.
  (members[0] as Member).server = start(members[0] as Member);
  await waitFor("a leader", () => leader(members.slice(0, 1)), 120_000, 1_000);
  for (const m of members.slice(1)) m.server = start(m);
  await waitFor(
    "every member streaming",
    async () => {
      const roles = await Promise.all(members.map(role));
      return roles.filter((r) => r === "replica" || r === "sync_standby").length === size - 1 ? true : undefined;
    },
    180_000,
    1_000,
  );
  const patchConfig = async (patch: Record<string, unknown>, via?: Member) => {
    const m = via ?? (await leader()) ?? (members[0] as Member);
    const auth = spilo.restapi.authentication as { username: string; password: string };
    const res = await fetch(`http://127.0.0.1:${m.apiPort}/config`, {
      method: "PATCH",
      headers: {
        "content-type": "application/json",
        authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`,
      },
      body: JSON.stringify(patch),
    });
    if (!res.ok) throw new Error(`PATCH /config on ${m.name}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  return {
    spilo,
    members,
    dirs,
    superuserPassword: passwords.superuser,
    role,
    leader,
    psql,
    kill: async (m) => {
      const pidFile = join(m.dir, "data", "postmaster.pid");
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").split("\n")[0]) : 0;
      const group =
        pid > 0 ? Number(spawnSync("ps", ["-o", "pgid=", "-p", String(pid)], { encoding: "utf8" }).stdout) : 0;
      await m.server.kill();
      if (group > 0) {
        try {
          process.kill(-group, "SIGKILL");
        } catch {
          // already gone
        }
        while (spawnSync("kill", ["-0", String(pid)]).status === 0) await new Promise((r) => setTimeout(r, 50));
      }
    },
    restart: (m) => {
      m.server = start(m);
    },
    patchConfig,
  };
}

/** One etcd member on loopback (the DCS when no Kubernetes API is given); returns its client port. */
async function startEtcd(dirs: string[]): Promise<number> {
  const etcdDir = scratchDir("etcd");
  dirs.push(etcdDir);
  const etcdPort = await freePort();
  const peerPort = await freePort();
  new Server(
    "etcd",
    "etcd",
    [
      "--name",
      "e1",
      "--data-dir",
      join(etcdDir, "data"),
      "--listen-client-urls",
      `http://127.0.0.1:${etcdPort}`,
      "--advertise-client-urls",
      `http://127.0.0.1:${etcdPort}`,
      "--listen-peer-urls",
      `http://127.0.0.1:${peerPort}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${peerPort}`,
      "--initial-cluster",
      `e1=http://127.0.0.1:${peerPort}`,
    ],
    { env: { ETCD_UNSUPPORTED_ARCH: "" } },
  );
  await waitFor(
    "etcd",
    async () => ((await fetch(`http://127.0.0.1:${etcdPort}/health`).catch(() => undefined))?.ok ? true : undefined),
    30_000,
  );
  return etcdPort;
}
