/**
 * The in-cluster server's certificate from cert-manager, checked by the software that consumes it:
 * PostgreSQL 15 serving a key with the ownership and mode of the rendered Secret volume (root, the
 * pod's fsGroup, defaultMode 0640), and libpq (psql) connecting with the rendered Jobs' env
 * (PGSSLMODE verify-full, PGSSLROOTCERT, PGHOST = the Service name) through PGHOSTADDR, so the name
 * the Jobs use is the one checked against the certificate the rendered Certificate asks for.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Postgres, startPostgres } from "../../support/postgres";
import {
  containerOf,
  find,
  manifests,
  removeDir,
  resolveEnv,
  scratchDir,
  secretValue,
  stopAll,
} from "../../support/servers";
import { makeCa } from "../../support/tls";

const list = manifests("staging");
/** The superuser password the Job reads from its Secret (the test value of that key). */
const SUPERUSER = secretValue("n8n-postgres-credentials", "superuser-password");

function secretVolumeMode(): number {
  const sts = find(list, "StatefulSet", "n8n-postgres");
  const pod = (sts.spec as { template: { spec: { volumes: { name: string; secret?: { defaultMode?: number } }[] } } })
    .template.spec;
  return pod.volumes.find((v) => v.name === "tls")?.secret?.defaultMode ?? -1;
}

describe("PostgreSQL's cert-manager certificate, verified by the Jobs' libpq", () => {
  const dirs: string[] = [];
  let pg: Postgres;
  let keyDir: string;

  beforeAll(async () => {
    pg = await startPostgres({}, undefined, undefined, SUPERUSER);
    dirs.push(pg.dir);
    // The key as the kubelet writes a Secret volume: owned by root, group = the pod's fsGroup
    // (postgres here), mode = the rendered defaultMode.
    keyDir = scratchDir("tls-volume");
    dirs.push(keyDir);
    spawnSync("chmod", ["755", keyDir]);
    copyFileSync(join(pg.dir, "server.key"), join(keyDir, "tls.key"));
    spawnSync("chown", ["root:postgres", join(keyDir, "tls.key")]);
    spawnSync("chmod", [secretVolumeMode().toString(8), join(keyDir, "tls.key")]);
    await pg.server.stop();
    pg = await startPostgres({ ssl_key_file: join(keyDir, "tls.key") }, pg.dir, pg.port, SUPERUSER);
  });

  afterAll(async () => {
    await stopAll();
    for (const d of dirs) removeDir(d);
  });

  /** psql as the bootstrap Job runs it (its rendered env), reaching the server at 127.0.0.1. */
  const asJob = (overrides: Record<string, string> = {}) => {
    const job = containerOf(find(list, "Job", "n8n-postgres-bootstrap"), "bootstrap");
    const env = resolveEnv(job, { PGHOSTADDR: "127.0.0.1", PGPORT: String(pg.port), ...overrides });
    return spawnSync("psql", ["-X", "-At", "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", PGGSSENCMODE: "disable", ...env },
    });
  };

  it("PostgreSQL accepts the key with the Secret volume's mode (0640, root-owned) and serves TLS", () => {
    expect(secretVolumeMode()).toBe(0o640);
    const r = asJob();
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("t");
  });

  it("the Jobs' env verifies: their PGHOST is a name of the certificate, signed by the CA they trust", () => {
    const job = containerOf(find(list, "Job", "n8n-postgres-bootstrap"), "bootstrap");
    const env = Object.fromEntries((job.env ?? []).map((e) => [e.name, e.value]));
    expect(env.PGSSLMODE).toBe("verify-full");
    expect(env.PGHOST).toBe("n8n-postgres");
    // Another CA: refused.
    const otherCa = makeCa(keyDir, "other-ca").crt;
    expect(asJob({ PGSSLROOTCERT: otherCa }).stderr).toMatch(/certificate verify failed/);
    // A name the certificate does not carry: refused.
    expect(asJob({ PGHOST: "n8n-postgres.elsewhere.svc" }).stderr).toMatch(/does not match host name/);
  });

  it("a key readable by everyone is refused by PostgreSQL (why the mode is 0640, not the default 0644)", async () => {
    const loose = join(keyDir, "loose.key");
    copyFileSync(join(keyDir, "tls.key"), loose);
    spawnSync("chown", ["root:postgres", loose]);
    spawnSync("chmod", ["644", loose]);
    const other = await startPostgres({ ssl_key_file: loose }).catch((err: Error) => err);
    expect(other).toBeInstanceOf(Error);
    expect(String(other)).toMatch(/private key file .* has group or world access/);
  });
});
