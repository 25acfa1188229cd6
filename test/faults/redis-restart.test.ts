/**
 * Scenario 4: Redis is SIGKILLed under a steady webhook load, with executions in flight on the
 * worker, and comes back on the same data directory (AOF) as the kubelet restarts the container.
 * Two outages: a container restart (3 s), and one longer than n8n's default limit of 10 s for an
 * unreachable Redis (QUEUE_BULL_REDIS_TIMEOUT_THRESHOLD), as when the pod is rescheduled.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, ledgerEnv, ledgerWorkflow, type Pod, startCluster } from "../../support/cluster";
import { type Ledger, post, startLedger, steadyLoad } from "../../support/load";
import { stopAll } from "../../support/servers";
import { type Figure, record } from "./figures";

const RATE = 4;
const LONG_SECONDS = 30;
const LONG_RUNS = 3;

let cluster: Cluster;
let ledger: Ledger;
let webhook: Pod;
const tag = () => randomUUID().replaceAll("-", "").slice(0, 10);
const short = { id: `rs${tag()}`, path: `short-${randomUUID()}` };
const long = { id: `rl${tag()}`, path: `long-${randomUUID()}` };
const figures: Figure[] = [];

beforeAll(async () => {
  ledger = await startLedger();
  cluster = await startCluster({
    stack: "prod",
    env: ledgerEnv(),
    workflows: [
      ledgerWorkflow(short.id, short.path, ledger.port),
      ledgerWorkflow(long.id, long.path, ledger.port, LONG_SECONDS),
    ],
  });
  await cluster.start("main");
  webhook = await cluster.start("webhook");
  await cluster.start("worker");
});

afterAll(async () => {
  if (figures.length > 0) record("redis-restart", figures);
  await cluster?.stop();
  // Whatever a failed setup left running (the cluster stops only what it started).
  await stopAll();
  await ledger?.close();
});

async function outage(name: string, downSeconds: number) {
  const url = (path: string) => `http://127.0.0.1:${webhook.port}/webhook/${path}`;
  const longIds = Array.from({ length: LONG_RUNS }, (_, n) => `${name}-long-${n}`);
  for (const i of longIds) expect(await post(url(long.path), i)).toBe(true);
  const load = steadyLoad(url(short.path), RATE, `${name}-short`);
  await new Promise((r) => setTimeout(r, 3_000));
  const killedAt = performance.now();
  await cluster.redis.server.kill();
  await new Promise((r) => setTimeout(r, downSeconds * 1000));
  await cluster.redis.restart();
  await new Promise((r) => setTimeout(r, 20_000));
  const result = await load.stop();
  const accepted = [...longIds, ...result.accepted];
  const { lost, duplicated } = await ledger.settle(accepted);
  const exited = cluster.pods.filter((p) => !p.server.alive).map((p) => p.role);
  const out = {
    downSeconds,
    accepted: accepted.length,
    failedRequests: result.failed.length,
    outageSeconds: Number(result.outageSeconds.toFixed(1)),
    lost,
    duplicated,
    // Requests the client saw fail whose execution ran anyway: a client that retries runs them twice.
    failedButRan: result.failed.filter((r) => ledger.seen.has(r.i)).length,
    longFinished: longIds.filter((i) => ledger.seen.get(i) === 1).length,
    n8nExited: exited.length > 0 ? exited.join("+") : "none",
    secondsToRecover: Number(((performance.now() - killedAt) / 1000).toFixed(1)),
  };
  process.stdout.write(
    `redis-restart ${name}: ${JSON.stringify(out)} failures: ${JSON.stringify(result.failed.slice(0, 3))}\n`,
  );
  return out;
}

describe("Redis SIGKILL under load", () => {
  it("a container restart (3 s): n8n reconnects by itself, nothing accepted is lost or run twice", async () => {
    const r = await outage("restart", 3);
    figures.push({ scenario: "4. Redis SIGKILL", what: "container restart", values: r });
    expect(r.n8nExited).toBe("none");
    expect(r.lost).toBe(0);
    expect(r.duplicated).toBe(0);
  });

  it("an outage longer than 10 s (rescheduled pod)", async () => {
    const r = await outage("reschedule", 20);
    figures.push({ scenario: "4. Redis SIGKILL", what: "20 s outage", values: r });
    expect(r.n8nExited).toBe("none");
    expect(r.lost).toBe(0);
    expect(r.duplicated).toBe(0);
  });
});
