/**
 * Scenario 1: a worker is scaled down (or rolled) while it runs executions that take longer than
 * n8n's default graceful shutdown (30 s). The kubelet runs the rendered preStop, sends SIGTERM and
 * enforces the rendered grace period with SIGKILL (support/kubelet.ts). A steady webhook load runs
 * on the webhook processor throughout; a second worker takes the short jobs.
 *
 * What n8n 2.40.7 does on SIGTERM (scaling.service.js stopWorker, base-command.js): the worker pauses
 * its queue, waits for its running jobs, and exits on its own with a crash after
 * N8N_GRACEFUL_SHUTDOWN_TIMEOUT, whatever is still running. Bull does not re-run the job
 * (maxStalledCount 0), so such an execution is never finished.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, ledgerEnv, ledgerWorkflow, type Pod, startCluster } from "../../support/cluster";
import type { PodTermination } from "../../support/kubelet";
import { type Ledger, post, startLedger, steadyLoad } from "../../support/load";
import { stopAll, waitFor } from "../../support/servers";
import { type Figure, record } from "./figures";

/** In-process wait of a long execution: over 30 s, under n8n's 65 s limit for in-process waits. */
const LONG_SECONDS = 60;
const LONG_RUNS = 4;
const RATE = 4;
/** What the program rendered before this scenario existed, and n8n's own default: 30 s, grace 50 s. */
const PREVIOUS: { env: Record<string, string>; termination: PodTermination } = {
  env: { N8N_GRACEFUL_SHUTDOWN_TIMEOUT: "30" },
  termination: { preStopSeconds: 5, graceSeconds: 50 },
};

let cluster: Cluster;
let ledger: Ledger;
let webhook: Pod;
const tag = () => randomUUID().replaceAll("-", "").slice(0, 10);
const flows = {
  previous: {
    long: { id: `lp${tag()}`, path: `long-${randomUUID()}` },
    short: { id: `sp${tag()}`, path: `short-${randomUUID()}` },
  },
  rendered: {
    long: { id: `lr${tag()}`, path: `long-${randomUUID()}` },
    short: { id: `sr${tag()}`, path: `short-${randomUUID()}` },
  },
};
const figures: Figure[] = [];

beforeAll(async () => {
  ledger = await startLedger();
  cluster = await startCluster({
    stack: "prod",
    env: ledgerEnv(),
    workflows: Object.values(flows).flatMap((f) => [
      ledgerWorkflow(f.long.id, f.long.path, ledger.port, LONG_SECONDS),
      ledgerWorkflow(f.short.id, f.short.path, ledger.port),
    ]),
  });
  await cluster.start("main");
  webhook = await cluster.start("webhook");
});

afterAll(async () => {
  if (figures.length > 0) record("worker-drain", figures);
  await cluster?.stop();
  // Whatever a failed setup left running (the cluster stops only what it started).
  await stopAll();
  await ledger?.close();
});

/** Runs the scenario with a worker of the given env and termination; returns what happened. */
async function scaleDown(which: keyof typeof flows, env: Record<string, string>, termination?: PodTermination) {
  const f = flows[which];
  const url = (path: string) => `http://127.0.0.1:${webhook.port}/webhook/${path}`;
  const leaving = await cluster.start("worker", env);
  if (termination) leaving.termination = termination;
  // The long executions all start on the worker that will leave (the only one yet).
  const long = Array.from({ length: LONG_RUNS }, (_, n) => `${which}-long-${n}`);
  for (const i of long) expect(await post(url(f.long.path), i)).toBe(true);
  await waitFor("the long executions to run", () =>
    cluster.executions([f.long.id]).running === LONG_RUNS ? true : undefined,
  );
  const load = steadyLoad(url(f.short.path), RATE, `${which}-short`);
  const staying = await cluster.start("worker", env);
  const end = await cluster.terminate(leaving);
  await new Promise((r) => setTimeout(r, 5_000));
  const result = await load.stop();
  const accepted = [...long, ...result.accepted];
  // The short jobs take milliseconds. Wait for the short ones only (the long ones have finished by now, or never will), then count all.
  await ledger.settle(result.accepted, 60_000);
  const { lost, duplicated } = await ledger.settle(accepted, 0);
  await cluster.terminate(staying);
  const byStatus = cluster.executions([f.long.id, f.short.id]);
  const out = {
    accepted: accepted.length,
    failedRequests: result.failed.length,
    longFinished: long.filter((i) => ledger.seen.get(i) === 1).length,
    lost,
    duplicated,
    succeeded: byStatus.success ?? 0,
    crashed: byStatus.crashed ?? 0,
    failed: byStatus.error ?? 0,
    unfinished: (byStatus.new ?? 0) + (byStatus.running ?? 0),
    workerExitSeconds: Number(end.seconds.toFixed(1)),
    sigkill: end.killed ? "yes" : "no",
    grace: leaving.termination.graceSeconds,
  };
  process.stdout.write(`worker-drain ${which}: ${JSON.stringify(out)}\n`);
  return out;
}

describe("worker scale-down with long executions in flight", () => {
  it("with the previous timings (n8n's 30 s), the long executions never finish: the scenario can fail", async () => {
    const r = await scaleDown("previous", PREVIOUS.env, PREVIOUS.termination);
    figures.push({ scenario: "1. worker scale-down", what: "previous timings (30 s shutdown, 50 s grace)", values: r });
    expect(r.longFinished).toBe(0);
    expect(r.lost).toBe(LONG_RUNS);
  });

  it("with the rendered timings, the worker drains: nothing lost, crashed, failed or run twice", async () => {
    const r = await scaleDown("rendered", {});
    figures.push({ scenario: "1. worker scale-down", what: "rendered timings", values: r });
    expect(r.sigkill).toBe("no");
    expect(r.longFinished).toBe(LONG_RUNS);
    expect(r.lost).toBe(0);
    expect(r.duplicated).toBe(0);
    expect(r.crashed + r.failed + r.unfinished).toBe(0);
    expect(r.failedRequests).toBe(0);
    expect(r.succeeded).toBe(r.accepted);
  });
});
