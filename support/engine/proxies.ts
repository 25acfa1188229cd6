/**
 * A fault proxy in front of the engine loop's API server and Service stand-ins behind it
 * (support/engine/fault-proxy.ts, service-proxy.ts), run in a child process (proxies-child.ts).
 */
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../servers";

export type ProxyCommand = { id: number } & (
  | { op: "down" | "up" | "state" | "close" }
  | { op: "slow"; ms: number }
  | { op: "service"; namespace: string; service: string; ports: Record<string, number>; token: string; ca: string }
);

export interface ProxyReply {
  id: number;
  error?: string;
  port?: number;
  services?: Record<string, { targets: string[]; changes: { at: number; targets: string[] }[] }>;
}

export interface Proxies {
  /** Loopback port of the API server's fault proxy. */
  apiPort: number;
  /** The API server refuses connections until `up()`; open ones are reset. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Every request to the API server takes `ms` longer. */
  slow(ms: number): Promise<void>;
  /** Starts the stand-in for a Service; returns its loopback port. */
  service(
    namespace: string,
    service: string,
    ports: Record<string, number>,
    access: { token: string; ca: string },
  ): Promise<number>;
  /** Each Service's current targets and changes (times: Date.now()). */
  state(): Promise<NonNullable<ProxyReply["services"]>>;
  close(): Promise<void>;
}

export async function startProxies(api: { host: string; port: number }): Promise<Proxies> {
  const child: ChildProcess = fork(join(ROOT, "support", "engine", "proxies-child.ts"), [`${api.host}:${api.port}`], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiting = new Map<number, (r: ProxyReply) => void>();
  child.on("message", (r: ProxyReply) => {
    waiting.get(r.id)?.(r);
    waiting.delete(r.id);
  });
  const exited = new Promise<never>((_, fail) =>
    child.once("exit", (code) => fail(new Error(`the proxies' process exited (${code})`))),
  );
  exited.catch(() => undefined);
  let next = 1;
  const ask = async (c: Record<string, unknown> & { op: string }): Promise<ProxyReply> => {
    const id = next++;
    const reply = new Promise<ProxyReply>((done) => waiting.set(id, done));
    child.send({ ...c, id });
    const r = await Promise.race([reply, exited]);
    if (r.error) throw new Error(`proxies: ${c.op}: ${r.error}`);
    return r;
  };
  const first = await Promise.race([new Promise<ProxyReply>((done) => waiting.set(0, done)), exited]);
  return {
    apiPort: first.port as number,
    down: async () => void (await ask({ op: "down" })),
    up: async () => void (await ask({ op: "up" })),
    slow: async (ms) => void (await ask({ op: "slow", ms })),
    service: async (namespace, service, ports, access) =>
      (await ask({ op: "service", namespace, service, ports, ...access })).port as number,
    state: async () => (await ask({ op: "state" })).services ?? {},
    close: async () => {
      if (child.exitCode !== null) return;
      await ask({ op: "close" }).catch(() => undefined);
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
    },
  };
}
