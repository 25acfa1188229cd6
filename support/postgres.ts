/** A throwaway PostgreSQL (Debian's postgresql-15) on loopback, with TLS, as user postgres. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { Manifest } from "../render/manifests";
import { containerOf, find, freePort, resolveEnv, Server, scratchDir, waitFor, writeFile } from "./servers";
import { signedServerCertificate } from "./tls";

const BIN = "/usr/lib/postgresql/15/bin";
export const SUPERUSER_PASSWORD = "test-superuser-password-0123456789abcdef";

export interface Postgres {
  port: number;
  dir: string;
  server: Server;
  /** Runs psql as the superuser over TCP; returns stdout, throws on failure. */
  psql(sql: string, database?: string, extraEnv?: Record<string, string>): string;
  stop(): Promise<void>;
}

function asPostgres(command: string, args: string[]) {
  return spawnSync("runuser", ["-u", "postgres", "--", command, ...args], { encoding: "utf8" });
}

/**
 * server.crt/server.key in `dir`, owned by postgres, signed by the test CA that stands in for the
 * namespace CA cert-manager runs (support/tls.ts), so clients can verify as the rendered ones do.
 */
export function serverCertificate(dir: string): void {
  signedServerCertificate(dir);
}

/** One SQL command through psql over TCP on loopback as the superuser (env adds libpq settings). */
export function superuserPsql(
  port: number,
  password: string,
  sql: string,
  database = "postgres",
  env: Record<string, string> = {},
  timeoutMs?: number,
) {
  return spawnSync(
    "psql",
    [
      "-X",
      "-v",
      "ON_ERROR_STOP=1",
      "-At",
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-U",
      "postgres",
      "-d",
      database,
      "-c",
      sql,
    ],
    {
      encoding: "utf8",
      env: { ...process.env, PGPASSWORD: password, PGGSSENCMODE: "disable", ...env },
      ...(timeoutMs ? { timeout: timeoutMs } : {}),
    },
  );
}

/** initdb (once per dir) and start with the given parameters (-c name=value). */
export async function startPostgres(
  parameters: Record<string, string> = {},
  existingDir?: string,
  port?: number,
  superuserPassword: string = SUPERUSER_PASSWORD,
): Promise<Postgres> {
  const dir = existingDir ?? scratchDir("pg", "postgres");
  const data = join(dir, "data");
  if (!existingDir) {
    writeFile(join(dir, "pw"), superuserPassword, "postgres");
    const init = asPostgres(`${BIN}/initdb`, [
      "-D",
      data,
      "-U",
      "postgres",
      `--pwfile=${join(dir, "pw")}`,
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "-E",
      "UTF8",
    ]);
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
    serverCertificate(dir);
  }
  const p = port ?? (await freePort());
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    port: String(p),
    unix_socket_directories: dir,
    ssl: "on",
    ssl_cert_file: join(dir, "server.crt"),
    ssl_key_file: join(dir, "server.key"),
    logging_collector: "off",
    ...parameters,
  };
  const args = [
    "-u",
    "postgres",
    "--",
    `${BIN}/postgres`,
    "-D",
    data,
    ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]),
  ];
  const server = new Server("postgres", "runuser", args);
  const psql = (sql: string, database = "postgres", extraEnv: Record<string, string> = {}) => {
    const r = superuserPsql(p, superuserPassword, sql, database, { PGSSLMODE: "require", ...extraEnv });
    if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  await waitFor(
    "postgres to accept connections",
    () => {
      if (!server.alive) throw new Error(`postgres exited: ${server.output.slice(-5).join("\n")}`);
      return psql("SELECT 1") === "1" ? true : undefined;
    },
    60_000,
  );
  return { port: p, dir, server, psql, stop: () => server.stop() };
}

/** The rendered SPILO_CONFIGURATION of a stack's PostgreSQL StatefulSet, parsed. */
export interface SpiloConfiguration {
  bootstrap: { dcs: Record<string, unknown> & { postgresql: { parameters: Record<string, string> } } };
  restapi: { authentication: { username: string; password: string } };
  postgresql: { parameters: Record<string, string>; pg_hba: string[] };
}

export function spiloConfiguration(list: Manifest[]): SpiloConfiguration {
  const env = resolveEnv(containerOf(find(list, "StatefulSet", "n8n-postgres"), "postgres"), {}, list);
  return JSON.parse(env.SPILO_CONFIGURATION ?? "{}") as SpiloConfiguration;
}

/** Every PostgreSQL parameter of the rendered SPILO_CONFIGURATION (bootstrap DCS and local). */
export function spiloParameters(list: Manifest[]): Record<string, string> {
  const spilo = spiloConfiguration(list);
  return { ...spilo.bootstrap.dcs.postgresql.parameters, ...spilo.postgresql.parameters };
}
