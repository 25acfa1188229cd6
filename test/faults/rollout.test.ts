/**
 * Scenario 2: rolling restart of the webhook processors, and a restart of main, under a steady
 * webhook load that goes through a proxy standing in for the Service/ingress (support/haproxy.ts).
 * As a Deployment with maxSurge 25% / maxUnavailable 0 does it: a new pod starts and joins the
 * endpoint list when ready; then the old pod is terminated (rendered preStop and grace), and the
 * endpoints controller drops it ENDPOINTS_LAG_SECONDS later. Main (Recreate) is stopped, then
 * started again; webhook calls do not go through it.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, ledgerEnv, ledgerWorkflow, type Pod, startCluster } from "../../support/cluster";
import { type Haproxy, startHaproxy } from "../../support/haproxy";
import { type Ledger, type LoadResult, startLedger, steadyLoad } from "../../support/load";
import { stopAll } from "../../support/servers";
import { type Figure, record } from "./figures";

const RATE = 8;
/** How long after a pod is marked terminating the proxy stops sending it requests. */
const ENDPOINTS_LAG_SECONDS = 2;

let cluster: Cluster;
let ledger: Ledger;
let proxy: Haproxy;
let webhooks: Pod[] = [];
const flow = { id: `ro${randomUUID().replaceAll("-", "").slice(0, 10)}`, path: `roll-${randomUUID()}` };
const figures: Figure[] = [];

beforeAll(async () => {
  ledger = await startLedger();
  cluster = await startCluster({
    stack: "prod",
    env: ledgerEnv(),
    workflows: [ledgerWorkflow(flow.id, flow.path, ledger.port)],
  });
  await cluster.start("main");
  await cluster.start("worker");
  webhooks = [await cluster.start("webhook"), await cluster.start("webhook")];
  proxy = await startHaproxy(
    "http",
    webhooks.map((w) => ({ name: w.name, port: w.port })),
  );
});

afterAll(async () => {
  if (figures.length > 0) record("rollout", figures);
  await cluster?.stop();
  // Whatever a failed setup left running (the cluster stops only what it started).
  await stopAll();
  await ledger?.close();
});

const url = () => `http://127.0.0.1:${proxy.port}/webhook/${flow.path}`;

/** What the load saw and what the ledger got. */
async function outcome(result: LoadResult) {
  const { lost, duplicated } = await ledger.settle(result.accepted, 60_000);
  return {
    accepted: result.accepted.length,
    failedRequests: result.failed.length,
    outageSeconds: Number(result.outageSeconds.toFixed(1)),
    lost,
    duplicated,
  };
}

/** Replaces every webhook processor, one at a time; `preStop` overrides the rendered pause. */
async function roll(name: string, preStopSeconds?: number) {
  const load = steadyLoad(url(), RATE, name);
  const exits: number[] = [];
  for (const old of [...webhooks]) {
    const fresh = await cluster.start("webhook");
    await proxy.add({ name: fresh.name, port: fresh.port });
    if (preStopSeconds !== undefined) old.termination = { ...old.termination, preStopSeconds };
    const end = await cluster.terminate(old, () => {
      setTimeout(() => void proxy.remove(old.name), ENDPOINTS_LAG_SECONDS * 1000);
    });
    exits.push(end.seconds);
    webhooks = [...webhooks.filter((w) => w !== old), fresh];
  }
  await new Promise((r) => setTimeout(r, 3_000));
  const r = await outcome(await load.stop());
  const out = { ...r, podExitSeconds: Math.max(...exits).toFixed(1) };
  process.stdout.write(`rollout ${name}: ${JSON.stringify(out)}\n`);
  return out;
}

describe("rolling restart behind a proxy", () => {
  it("webhook processors with the rendered preStop: no request fails, nothing lost", async () => {
    const r = await roll("webhook-rendered");
    figures.push({
      scenario: "2. rollout",
      what: `webhook processors, rendered preStop (endpoints lag ${ENDPOINTS_LAG_SECONDS} s)`,
      values: r,
    });
    expect(r.failedRequests).toBe(0);
    expect(r.lost).toBe(0);
    expect(r.duplicated).toBe(0);
  });

  it("without the preStop pause, requests fail while the endpoints lag: the scenario can fail", async () => {
    const r = await roll("webhook-no-prestop", 0);
    figures.push({ scenario: "2. rollout", what: "webhook processors, no preStop", values: r });
    expect(r.failedRequests).toBeGreaterThan(0);
  });

  it("main restarts (Recreate): webhook calls keep succeeding, the editor is back by itself", async () => {
    const load = steadyLoad(url(), RATE, "main-restart");
    const main = cluster.pods.find((p) => p.role === "main") as Pod;
    const started = performance.now();
    await cluster.terminate(main);
    await cluster.start("main");
    const editorDownSeconds = (performance.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 3_000));
    const r = { ...(await outcome(await load.stop())), editorDownSeconds: editorDownSeconds.toFixed(1) };
    process.stdout.write(`rollout main: ${JSON.stringify(r)}\n`);
    figures.push({ scenario: "2. rollout", what: "main restart", values: r });
    expect(r.failedRequests).toBe(0);
    expect(r.lost).toBe(0);
    expect(r.duplicated).toBe(0);
  });
});
