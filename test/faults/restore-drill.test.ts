/**
 * Scenario 5: the restore drill. A running stack gets workflows, a credential, executions and
 * bulk data; the rendered dump job (dump.py from the ConfigMap, the CronJob's env) streams
 * pg_dump into s3rver standing in for the dump bucket; the README's runbook restores it into a
 * fresh stack's PostgreSQL (after the bootstrap Job, as `pulumi up` leaves it); n8n boots on it with
 * the same encryption key: the workflow runs and the credential decrypts. With another key, the
 * credential export fails loudly. Figures: RTO, and RTO per GiB of database.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, ledgerEnv, ledgerWorkflow, startCluster } from "../../support/cluster";
import { dumpContainer, runDump } from "../../support/dump";
import { type Ledger, post, startLedger } from "../../support/load";
import { n8nCli } from "../../support/n8n";
import { type Postgres, spiloParameters, startPostgres } from "../../support/postgres";
import { type S3, startS3 } from "../../support/s3";
import {
  find,
  manifests,
  ROOT,
  removeDir,
  resolveEnv,
  scratchDir,
  secretValue,
  stopAll,
  waitFor,
  writeFile,
} from "../../support/servers";
import { type Figure, record } from "./figures";

const stack = "prod";
const list = manifests(stack);
/** Rows of about 1 KiB of incompressible-ish text in a table of the app role: the bulk of the database. */
const FILLER_ROWS = 150_000;
const EXECUTIONS = 40;

let source: Cluster;
let ledger: Ledger;
let s3: S3;
const dirs: string[] = [];
const flow = { id: `rd${randomUUID().replaceAll("-", "").slice(0, 10)}`, path: `drill-${randomUUID()}` };
const credential = { id: "drillcred0000001", secret: `drill-${randomUUID()}` };
const figures: Figure[] = [];

const dump = dumpContainer(find(list, "CronJob", "n8n-postgres-dump"));
const bucket = resolveEnv(dump).DUMP_BUCKET as string;

beforeAll(async () => {
  ledger = await startLedger();
  s3 = await startS3([bucket]);
  dirs.push(s3.dir);
  source = await startCluster({
    stack,
    env: ledgerEnv(),
    workflows: [ledgerWorkflow(flow.id, flow.path, ledger.port)],
  });
  await source.start("main");
  await source.start("worker");
  const webhook = await source.start("webhook");
  for (let n = 0; n < EXECUTIONS; n++)
    expect(await post(`http://127.0.0.1:${webhook.port}/webhook/${flow.path}`, `before-${n}`)).toBe(true);
  await waitFor("the executions", () => (source.executions([flow.id]).success === EXECUTIONS ? true : undefined));
  // A credential, encrypted by n8n with the stack's key on import.
  const file = join(source.pg.dir, "credential.json");
  writeFile(
    file,
    JSON.stringify([
      { id: credential.id, name: "drill", type: "httpHeaderAuth", data: { name: "X-Drill", value: credential.secret } },
    ]),
  );
  n8nCli(await source.cliEnv(), ["import:credentials", `--input=${file}`]);
  source.pg.psql(
    `SET ROLE n8n; CREATE TABLE drill_filler AS SELECT s.g AS id, (SELECT string_agg(md5(random()::text || s.g || k.x), '') FROM generate_series(1, 32) AS k(x)) AS pad FROM generate_series(1, ${FILLER_ROWS}) AS s(g)`,
    "n8n",
  );
});

afterAll(async () => {
  if (figures.length > 0) record("restore-drill", figures);
  await source?.stop();
  await stopAll();
  await ledger?.close();
  for (const d of dirs) removeDir(d);
});

/** The runbook's pg_restore command, read from the README (the words after `--`, before `<`). */
function runbookRestore(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = /<!-- restore-from-dump -->([\s\S]*?)<!-- \/restore-from-dump -->/.exec(readme)?.[1] ?? "";
  const line = block.split("\n").find((l) => l.trim().startsWith("pg_restore"));
  if (!line) throw new Error("README: no pg_restore line in the restore-from-dump runbook");
  return line.trim().split("<")[0]?.trim().split(/\s+/) ?? [];
}

describe("restore drill: rendered dump job -> S3 stand-in -> runbook -> n8n", () => {
  let dumpKey = "";
  let restored: Postgres;
  let target: Cluster;

  it("the rendered dump job uploads a dump of the n8n database", () => {
    const dir = scratchDir("dump-job");
    dirs.push(dir);
    const run = runDump(list, dump, source.pg.port, s3, dir);
    expect(run.status, run.output).toBe(0);
    const dumpSeconds = run.seconds;
    dumpKey = run.key;
    expect(dumpKey).toMatch(/^dumps\/n8n-postgres\/n8n-\d{8}T\d{6}Z\.dump$/);
    figures.push({
      scenario: "5. restore drill",
      what: "dump job",
      values: {
        databaseMiB: Math.round(Number(source.pg.psql("SELECT pg_database_size('n8n')")) / 2 ** 20),
        dumpSeconds: Number(dumpSeconds.toFixed(1)),
      },
    });
  });

  it("the runbook restores it into a fresh stack's PostgreSQL; n8n runs the workflow and decrypts the credential", async () => {
    const dbBytes = Number(source.pg.psql("SELECT pg_database_size('n8n')"));
    // The source stack is gone (its n8n stopped: nothing else may answer the ledger).
    for (const p of [...source.pods]) await p.server.stop();
    const started = performance.now();
    // Fetch the dump (the runbook's `aws s3 cp`; here from s3rver's file store through its HTTP API).
    const dir = scratchDir("restore");
    dirs.push(dir);
    const file = join(dir, "n8n.dump");
    const res = await fetch(`${s3.endpoint}/${bucket}/${dumpKey}`);
    expect(res.ok).toBe(true);
    writeFile(file, Buffer.from(await res.arrayBuffer()) as unknown as string);
    const dumpMiB = statSync(file).size / 2 ** 20;
    // A fresh stack's PostgreSQL: the rendered parameters and the bootstrap Job's SQL.
    restored = await startPostgres(
      { ...spiloParameters(list), archive_command: "/bin/true" },
      undefined,
      undefined,
      secretValue("n8n-postgres-credentials", "superuser-password"),
    );
    target = await startCluster({ stack, env: ledgerEnv(), workflows: [], database: restored });
    const args = runbookRestore();
    const pgRestore = spawnSync("/usr/lib/postgresql/15/bin/pg_restore", args.slice(1), {
      encoding: "utf8",
      input: readFileSync(file),
      env: {
        PATH: process.env.PATH ?? "",
        // The runbook runs it in the leader's container as postgres; here over TCP to the fresh server.
        PGHOST: "127.0.0.1",
        PGPORT: String(restored.port),
        PGPASSWORD: secretValue("n8n-postgres-credentials", "superuser-password"),
        PGSSLMODE: "require",
        PGGSSENCMODE: "disable",
      },
      timeout: 900_000,
    });
    expect(pgRestore.status, pgRestore.stderr).toBe(0);
    const restoreSeconds = (performance.now() - started) / 1000;
    await target.start("main");
    await target.start("worker");
    const webhook = await target.start("webhook");
    expect(await post(`http://127.0.0.1:${webhook.port}/webhook/${flow.path}`, "after-restore")).toBe(true);
    await waitFor("the workflow to run on the restored database", () =>
      ledger.seen.has("after-restore") ? true : undefined,
    );
    const rto = (performance.now() - started) / 1000;
    expect(target.executions([flow.id]).success).toBeGreaterThanOrEqual(EXECUTIONS + 1);
    const out = join(dir, "credentials.json");
    n8nCli(await target.cliEnv(), ["export:credentials", `--id=${credential.id}`, "--decrypted", `--output=${out}`]);
    const [exported] = JSON.parse(readFileSync(out, "utf8")) as { data: { value: string } }[];
    expect(exported?.data.value).toBe(credential.secret);
    const gib = dbBytes / 2 ** 30;
    figures.push({
      scenario: "5. restore drill",
      what: "runbook restore + n8n back",
      values: {
        databaseMiB: Math.round(dbBytes / 2 ** 20),
        dumpMiB: Number(dumpMiB.toFixed(1)),
        restoreSeconds: Number(restoreSeconds.toFixed(1)),
        rtoSeconds: Number(rto.toFixed(1)),
        rtoSecondsPerGiB: Math.round(rto / gib),
      },
    });
  });

  it("with another encryption key, the credential export fails loudly", async () => {
    const wrong = await target.cliEnv({ N8N_ENCRYPTION_KEY: `wrong-${randomUUID()}` });
    const out = join(scratchDir("wrong-key"), "credentials.json");
    expect(() =>
      n8nCli(wrong, ["export:credentials", `--id=${credential.id}`, "--decrypted", `--output=${out}`]),
    ).toThrow(/Credentials could not be decrypted/);
  });
});
