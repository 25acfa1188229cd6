/**
 * Redis from the rendered config: the ConfigMap's redis.conf and the container's own start
 * command, with only the data directory, the port and the listen address moved to loopback.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import Bull from "bull";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  containerOf,
  find,
  freePort,
  manifests,
  removeDir,
  resolveEnv,
  Server,
  scratchDir,
  stopAll,
  waitFor,
  writeFile,
} from "./support";

const stack = "staging";
const list = manifests(stack);
const conf = (find(list, "ConfigMap", "n8n-redis").data as Record<string, string>)["redis.conf"] as string;
const container = containerOf(find(list, "StatefulSet", "n8n-redis"), "redis");
const n8nEnv = resolveEnv(containerOf(find(list, "Deployment", "n8n-worker"), "n8n"));

let dir: string;
let port: number;
let server: Server;

/** The substitutions that put the rendered config on loopback in a scratch directory. */
function localize(text: string): string {
  return text
    .replace(/^bind .*$/m, "bind 127.0.0.1")
    .replace(/^port \d+$/m, `port ${port}`)
    .replace(/^dir \/data$/m, `dir ${dir}`)
    .replaceAll("/run/redis/auth.conf", join(dir, "auth.conf"))
    .replaceAll("/etc/redis/redis.conf", join(dir, "redis.conf"));
}

function start(): Server {
  const [shell, flag] = container.command ?? [];
  const script = localize(container.args?.[0] ?? "");
  return new Server("redis", shell as string, [flag as string, script], { env: resolveEnv(container) });
}

const cli = (args: string[], auth = true) =>
  spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], {
    encoding: "utf8",
    env: auth ? { ...process.env, REDISCLI_AUTH: resolveEnv(container).REDISCLI_AUTH } : { PATH: process.env.PATH },
  }).stdout.trim();

beforeAll(async () => {
  dir = scratchDir("redis");
  port = await freePort();
  writeFile(join(dir, "redis.conf"), localize(conf));
  server = start();
  await waitFor("redis", () => (cli(["ping"]) === "PONG" ? true : undefined), 30_000);
});

afterAll(async () => {
  await stopAll();
  removeDir(dir);
});

describe("Redis from the rendered config", () => {
  it("keeps the password out of redis.conf and gets it from the Secret at start", () => {
    expect(conf).not.toContain(resolveEnv(container).REDIS_PASSWORD);
    expect(cli(["ping"], false)).toMatch(/NOAUTH/);
    expect(cli(["ping"])).toBe("PONG");
  });

  it("runs with AOF every second, noeviction and the rendered maxmemory", () => {
    const persistence = cli(["info", "persistence"]);
    expect(persistence).toMatch(/aof_enabled:1/);
    const memory = cli(["info", "memory"]);
    expect(memory).toMatch(/maxmemory_policy:noeviction/);
    const rendered = /^maxmemory (\d+)$/m.exec(conf)?.[1];
    expect(memory).toContain(`maxmemory:${rendered}`);
  });

  it("refuses the disabled commands", () => {
    expect(cli(["config", "get", "appendfsync"])).toMatch(/unknown command/i);
    expect(cli(["flushall"])).toMatch(/unknown command/i);
  });

  it("keeps 1000 queued jobs through a SIGKILL (AOF everysec)", async () => {
    const queue = new Bull("jobs", {
      prefix: n8nEnv.QUEUE_BULL_PREFIX,
      redis: { host: "127.0.0.1", port, password: resolveEnv(container).REDIS_PASSWORD },
    });
    await queue.addBulk(Array.from({ length: 1000 }, (_, i) => ({ data: { executionId: String(i) } })));
    expect(await queue.getWaitingCount()).toBe(1000);
    await queue.close();
    // Past one appendfsync interval, then no chance to flush anything more.
    await new Promise((r) => setTimeout(r, 1_500));
    await server.kill();
    server = start();
    await waitFor("redis after the kill", () => (cli(["ping"]) === "PONG" ? true : undefined), 60_000);
    const waiting = Number(cli(["llen", `${n8nEnv.QUEUE_BULL_PREFIX}:jobs:wait`]));
    expect(waiting).toBe(1000);
  });
});
