/**
 * Redis from the rendered config: the ConfigMap's redis.conf and the container's own start
 * command, with only the data directory, the port and the listen address moved to loopback.
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Redis, startRedis } from "../../support/redis";
import {
  CACHE,
  containerOf,
  find,
  manifests,
  N8N_VERSION,
  removeDir,
  resolveEnv,
  stopAll,
} from "../../support/servers";

/** The bull that n8n itself ships (from the installed n8n), so the test queues exactly as n8n does. */
interface BullQueue {
  addBulk(jobs: { data: unknown }[]): Promise<unknown>;
  getWaitingCount(): Promise<number>;
  close(): Promise<void>;
}
type BullConstructor = new (name: string, options: { prefix?: string; redis: Record<string, unknown> }) => BullQueue;
const Bull = createRequire(join(CACHE, `n8n-${N8N_VERSION}`, "node_modules", "n8n", "package.json"))(
  "bull",
) as BullConstructor;

const stack = "staging";
const n8nEnv = resolveEnv(containerOf(find(manifests(stack), "Deployment", "n8n-worker"), "n8n"));
let redis: Redis;

beforeAll(async () => {
  redis = await startRedis(stack);
});

afterAll(async () => {
  await stopAll();
  removeDir(redis.dir);
});

describe("Redis from the rendered config", () => {
  it("keeps the password out of redis.conf and gets it from the Secret at start", () => {
    expect(redis.conf).not.toContain(redis.password);
    expect(redis.cli(["ping"], false)).toMatch(/NOAUTH/);
    expect(redis.cli(["ping"])).toBe("PONG");
  });

  it("runs with AOF every second, noeviction and the rendered maxmemory", () => {
    const persistence = redis.cli(["info", "persistence"]);
    expect(persistence).toMatch(/aof_enabled:1/);
    const memory = redis.cli(["info", "memory"]);
    expect(memory).toMatch(/maxmemory_policy:noeviction/);
    const rendered = /^maxmemory (\d+)$/m.exec(redis.conf)?.[1];
    expect(memory).toContain(`maxmemory:${rendered}`);
  });

  it("refuses the disabled commands", () => {
    expect(redis.cli(["config", "get", "appendfsync"])).toMatch(/unknown command/i);
    expect(redis.cli(["flushall"])).toMatch(/unknown command/i);
  });

  it("keeps 1000 queued jobs through a SIGKILL (AOF everysec)", async () => {
    const queue = new Bull("jobs", {
      prefix: n8nEnv.QUEUE_BULL_PREFIX,
      redis: { host: "127.0.0.1", port: redis.port, password: redis.password },
    });
    await queue.addBulk(Array.from({ length: 1000 }, (_, i) => ({ data: { executionId: String(i) } })));
    expect(await queue.getWaitingCount()).toBe(1000);
    await queue.close();
    // Past one appendfsync interval, then no chance to flush anything more.
    await new Promise((r) => setTimeout(r, 1_500));
    await redis.server.kill();
    await redis.restart();
    const waiting = Number(redis.cli(["llen", `${n8nEnv.QUEUE_BULL_PREFIX}:jobs:wait`]));
    expect(waiting).toBe(1000);
  });
});
