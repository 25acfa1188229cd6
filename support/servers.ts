/**
 * Support for the real-server suites (test/real) and the cluster benchmark (bench/): the rendered
 * manifests, test values for every Secret, free loopback ports, and processes that are always stopped.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import type { Manifest } from "../render/manifests";
import { containerEnv, type KubeletEnvVar } from "./kubelet";
import { localCaPaths } from "./tls";

export const ROOT = resolve(__dirname, "..");

/** Where scripts/real-setup.sh put Node 24 and n8n. */
export const CACHE =
  process.env.N8N_CLUSTER_CACHE ??
  join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/root", ".cache"), "n8n-cluster");

/** The manifests of `npm run render -- <stack>` (test:real renders first). */
export function manifests(stack: string): Manifest[] {
  const text = readFileSync(join(ROOT, "out", stack, "manifests.yaml"), "utf8");
  return parseAllDocuments(text).map((d) => d.toJS() as Manifest);
}

/** The n8n release the rendered staging stack runs (scripts/real-setup.sh installs the same). */
export const N8N_VERSION = (() => {
  const main = manifests("staging").find((m) => m.kind === "Deployment" && m.metadata.name === "n8n-main");
  if (!main) throw new Error("render staging first (npm run render -- staging)");
  const spec = main.spec as { template: { spec: { containers: { name: string; image: string }[] } } };
  const image = spec.template.spec.containers.find((c) => c.name === "n8n")?.image ?? "";
  return image.split(":").pop() as string;
})();

export function find(list: Manifest[], kind: string, name: string): Manifest {
  const m = list.find((x) => x.kind === kind && x.metadata.name === name);
  if (!m) throw new Error(`${kind}/${name} is not rendered`);
  return m;
}

export type EnvVar = KubeletEnvVar;
export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
}

export function containerOf(m: Manifest, name: string): Container {
  const spec = m.spec as { template: { spec: { containers: Container[]; initContainers?: Container[] } } };
  const c = [...(spec.template.spec.initContainers ?? []), ...spec.template.spec.containers].find(
    (x) => x.name === name,
  );
  if (!c) throw new Error(`${m.metadata.name} has no container ${name}`);
  return c;
}

/** The test value behind a secretKeyRef: deterministic, long enough, never a real secret. */
export function secretValue(name: string, key: string): string {
  return `test-${name}-${key}`.replace(/[^A-Za-z0-9-]/g, "").padEnd(40, "x");
}

/**
 * A container's env as the kubelet builds it (ConfigMap values from `list`, Secret references as
 * test values, $(NAME) expanded), then overrides. Downward-API fields are left out.
 */
export function resolveEnv(
  c: Container,
  overrides: Record<string, string> = {},
  list: Manifest[] = [],
): Record<string, string> {
  const withoutFields = (c.env ?? []).filter((e) => !e.valueFrom?.fieldRef);
  // Files under the pods' CA mounts come from the test CA (the stand-in for the namespace CA).
  return { ...localCaPaths(containerEnv(withoutFields, { manifests: list, secret: secretValue })), ...overrides };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command, bounded in time; output is collected, never inherited (it may hold secrets). */
export function runCommand(
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; timeoutMs: number },
): Promise<Run> {
  const t0 = Date.now();
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: true });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${options.timeoutMs} ms]`;
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // gone
      }
    }, options.timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code: code ?? 1, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => done(port));
    });
  });
}

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 120_000,
  everyMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/**
 * A server process in its own process group. Its output goes to a file, not a pipe: a pipe fills
 * up and stalls the server whenever the test blocks (spawnSync) instead of reading it.
 */
export class Server {
  private readonly child: ChildProcess;
  private readonly logFile: string;
  private exited = false;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    options: { env?: Record<string, string>; cwd?: string } = {},
  ) {
    this.logFile = join(mkdtempSync(join(tmpdir(), `${name}-log-`)), "output.log");
    const fd = openSync(this.logFile, "a");
    this.child = spawn(command, args, {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...options.env },
      cwd: options.cwd,
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    this.child.on("exit", () => {
      this.exited = true;
    });
    RUNNING.add(this);
  }

  /** Everything the process printed so far, line by line. */
  get output(): string[] {
    return readFileSync(this.logFile, "utf8").split("\n").filter(Boolean);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Sends a signal to the whole process group. */
  signal(sig: NodeJS.Signals): void {
    if (this.exited || !this.child.pid) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      // already gone
    }
  }

  async stop(graceMs = 15_000): Promise<void> {
    this.signal("SIGTERM");
    const deadline = Date.now() + graceMs;
    while (!this.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    this.signal("SIGKILL");
    while (!this.exited) await new Promise((r) => setTimeout(r, 50));
    RUNNING.delete(this);
  }

  async kill(): Promise<void> {
    this.signal("SIGKILL");
    while (!this.exited) await new Promise((r) => setTimeout(r, 50));
    RUNNING.delete(this);
  }
}

const RUNNING = new Set<Server>();

/** Stops every server still running (afterAll of each suite). */
export async function stopAll(): Promise<void> {
  await Promise.all([...RUNNING].map((s) => s.stop(5_000)));
}

/** A scratch directory, optionally owned by a system user (PostgreSQL refuses to run as root). */
export function scratchDir(prefix: string, owner?: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  if (owner) {
    const id = spawnSync("id", ["-u", owner], { encoding: "utf8" }).stdout.trim();
    const gid = spawnSync("id", ["-g", owner], { encoding: "utf8" }).stdout.trim();
    chownSync(dir, Number(id), Number(gid));
  }
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function writeFile(path: string, text: string, owner?: string): void {
  writeFileSync(path, text);
  if (owner) spawnSync("chown", [owner, path]);
}

export { mkdirSync };
