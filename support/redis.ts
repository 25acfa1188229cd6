/** Redis started from a stack's rendered ConfigMap and container command, moved to loopback. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { containerOf, find, freePort, manifests, resolveEnv, Server, scratchDir, waitFor, writeFile } from "./servers";

export interface Redis {
  port: number;
  dir: string;
  conf: string;
  password: string;
  server: Server;
  cli(args: string[], auth?: boolean): string;
  /** Starts the server again on the same directory (after a kill). */
  restart(): Promise<void>;
}

/**
 * The only substitutions: listen on loopback, a free port, a scratch data directory, and the
 * paths of the two files the container mounts.
 */
function localize(text: string, dir: string, port: number): string {
  return text
    .replace(/^bind .*$/m, "bind 127.0.0.1")
    .replace(/^port \d+$/m, `port ${port}`)
    .replace(/^dir \/data$/m, `dir ${dir}`)
    .replaceAll("/run/redis/auth.conf", join(dir, "auth.conf"))
    .replaceAll("/etc/redis/redis.conf", join(dir, "redis.conf"));
}

export async function startRedis(stack: string): Promise<Redis> {
  const list = manifests(stack);
  const conf = (find(list, "ConfigMap", "n8n-redis").data as Record<string, string>)["redis.conf"] as string;
  const container = containerOf(find(list, "StatefulSet", "n8n-redis"), "redis");
  const env = resolveEnv(container);
  const dir = scratchDir("redis");
  const port = await freePort();
  writeFile(join(dir, "redis.conf"), localize(conf, dir, port));
  const launch = () => {
    const [shell, flag] = container.command ?? [];
    return new Server("redis", shell as string, [flag as string, localize(container.args?.[0] ?? "", dir, port)], {
      env,
    });
  };
  const cli = (args: string[], auth = true) =>
    spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], {
      encoding: "utf8",
      env: auth ? { PATH: process.env.PATH, REDISCLI_AUTH: env.REDISCLI_AUTH } : { PATH: process.env.PATH },
    }).stdout.trim();
  const ready = () => waitFor("redis", () => (cli(["ping"]) === "PONG" ? true : undefined), 60_000);
  const redis: Redis = {
    port,
    dir,
    conf,
    password: env.REDIS_PASSWORD as string,
    server: launch(),
    cli,
    restart: async () => {
      redis.server = launch();
      await ready();
    },
  };
  await ready();
  return redis;
}
