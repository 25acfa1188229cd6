/**
 * Scenario 6: an n8n upgrade under a steady webhook load, from UPGRADE_FROM (installed from the npm
 * registry) to the release the prod stack pins, in the order the program makes Pulumi follow
 * (test/upgrade.test.ts reads that order off the dependency graph):
 *   1. the release's pre-upgrade dump Job runs (the rendered pod, into s3rver) and succeeds;
 *   2. main (Recreate): the old pod is terminated, the new one starts and runs the migrations;
 *   3. workers: a new worker starts, the old one is terminated and drains (rendered grace);
 *   4. webhook processors: a new one starts and joins the proxy, the old one is terminated.
 * The old processes are rendered with n8n.version = UPGRADE_FROM, the new ones are the committed
 * prod render. The ledger counts what was accepted and never ran, and what ran twice.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { preUpgradeDumpName } from "../../components/postgres/jobs";
import { type Cluster, ledgerEnv, ledgerWorkflow, type Pod, type Release, startCluster } from "../../support/cluster";
import { dumpContainer, runDump } from "../../support/dump";
import { type Haproxy, startHaproxy } from "../../support/haproxy";
import { type Ledger, startLedger, steadyLoad } from "../../support/load";
import { N8N, n8nBin } from "../../support/n8n";
import { UPGRADE_FROM } from "../../support/releases";
import { type S3, startS3 } from "../../support/s3";
import { find, manifests, N8N_VERSION, removeDir, resolveEnv, scratchDir, stopAll } from "../../support/servers";
import { rawStackConfig, runProgram } from "../harness";
import { type Figure, record } from "./figures";

const RATE = 6;
const ENDPOINTS_LAG_SECONDS = 2;

let cluster: Cluster;
let ledger: Ledger;
let proxy: Haproxy;
let s3: S3;
let from: Release;
const to: Release = { list: manifests("prod"), bin: N8N };
const dirs: string[] = [];
const flow = { id: `up${randomUUID().replaceAll("-", "").slice(0, 10)}`, path: `upgrade-${randomUUID()}` };
const figures: Figure[] = [];
const dumpJob = find(to.list, "Job", preUpgradeDumpName(N8N_VERSION));

beforeAll(async () => {
  const raw = rawStackConfig("prod");
  const old = await runProgram("prod", { ...raw, n8n: { ...(raw.n8n as object), version: UPGRADE_FROM } });
  from = { list: old.manifests, bin: n8nBin(UPGRADE_FROM) };
  ledger = await startLedger();
  s3 = await startS3([resolveEnv(dumpContainer(dumpJob)).DUMP_BUCKET as string]);
  dirs.push(s3.dir);
  cluster = await startCluster({
    stack: "prod",
    env: ledgerEnv(),
    workflows: [ledgerWorkflow(flow.id, flow.path, ledger.port)],
    release: from,
  });
  await cluster.start("main");
  await cluster.start("worker");
  const webhook = await cluster.start("webhook");
  proxy = await startHaproxy("http", [{ name: webhook.name, port: webhook.port }]);
});

afterAll(async () => {
  if (figures.length > 0) record("upgrade", figures);
  await cluster?.stop();
  await stopAll();
  await ledger?.close();
  for (const d of dirs) removeDir(d);
});

const migrations = () => Number(cluster.sql("SELECT count(*) FROM migrations"));
const only = (role: Pod["role"]) => cluster.pods.filter((p) => p.role === role);

describe(`upgrade ${UPGRADE_FROM} -> the pinned release, in the rendered order`, () => {
  it("the dump runs first, main migrates, workers and webhook processors follow: nothing lost or run twice", async () => {
    expect(from.list).not.toEqual(to.list);
    const before = migrations();
    const load = steadyLoad(`http://127.0.0.1:${proxy.port}/webhook/${flow.path}`, RATE, "upgrade");
    await new Promise((r) => setTimeout(r, 5_000));

    // 1. The guard: the release's pre-upgrade dump.
    const dir = scratchDir("pre-upgrade-dump");
    dirs.push(dir);
    const dump = runDump(to.list, dumpContainer(dumpJob), cluster.pg.port, s3, dir);
    expect(dump.status, dump.output).toBe(0);
    expect(dump.key).toMatch(/^dumps\/n8n-postgres\/n8n-\d{8}T\d{6}Z\.dump$/);

    // 2. Main, Recreate: old gone, then the new release starts and migrates.
    const mainStarted = performance.now();
    for (const old of only("main")) await cluster.terminate(old);
    const main = await cluster.start("main", {}, to);
    const mainSeconds = (performance.now() - mainStarted) / 1000;
    const after = migrations();

    // 3. Workers: surge one of the new release, then drain the old one.
    const workerExits: number[] = [];
    for (const old of only("worker")) {
      await cluster.start("worker", {}, to);
      workerExits.push((await cluster.terminate(old)).seconds);
    }

    // 4. Webhook processors behind the proxy.
    for (const old of only("webhook")) {
      const fresh = await cluster.start("webhook", {}, to);
      await proxy.add({ name: fresh.name, port: fresh.port });
      await cluster.terminate(old, () => {
        setTimeout(() => void proxy.remove(old.name), ENDPOINTS_LAG_SECONDS * 1000);
      });
    }
    await new Promise((r) => setTimeout(r, 5_000));
    const result = await load.stop();
    const { lost, duplicated } = await ledger.settle(result.accepted, 90_000);
    const statuses = cluster.executions([flow.id]);
    const figure = {
      accepted: result.accepted.length,
      failedRequests: result.failed.length,
      lost,
      duplicated,
      migrationsRun: after - before,
      mainDownSeconds: Number(mainSeconds.toFixed(1)),
      workerExitSeconds: Number(Math.max(...workerExits).toFixed(1)),
      dumpSeconds: Number(dump.seconds.toFixed(1)),
      error: statuses.error ?? 0,
      crashed: statuses.crashed ?? 0,
    };
    process.stdout.write(`upgrade: ${JSON.stringify(figure)}\n`);
    figures.push({ scenario: "6. upgrade", what: `${UPGRADE_FROM} -> ${N8N_VERSION}`, values: figure });

    expect(main.server.alive).toBe(true);
    expect(result.accepted.length).toBeGreaterThan(50);
    expect(lost).toBe(0);
    expect(duplicated).toBe(0);
    expect(result.failed).toEqual([]);
    expect(figure.error + figure.crashed).toBe(0);
  });
});
