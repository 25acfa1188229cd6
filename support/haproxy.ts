/**
 * HAProxy (Debian's) as the stand-in for a Kubernetes Service or the ingress in front of pods:
 * without health checks of its own and without retries, a backend server receives traffic exactly
 * while it is in the endpoint list, which the scenario edits through the runtime API as the
 * endpoints controller would (add when ready, remove when terminating). With `check`, HAProxy
 * health-checks each server instead (Patroni's REST API for the primary).
 */
import { createConnection } from "node:net";
import { join } from "node:path";
import { freePort, Server, scratchDir, waitFor, writeFile } from "./servers";

export interface Backend {
  name: string;
  port: number;
  /** HTTP health check on this port and path (Patroni: the REST API's /primary). */
  check?: { port: number; path: string };
}

export interface Haproxy {
  port: number;
  dir: string;
  server: Server;
  /** Runs one runtime API command and returns its answer. */
  command(cmd: string): Promise<string>;
  /** Adds a server to the endpoint list (enabled at once). */
  add(b: Backend): Promise<void>;
  /** Takes a server out of the endpoint list. */
  remove(name: string): Promise<void>;
  /** Names of the servers that take traffic now (UP, enabled). */
  up(): Promise<string[]>;
}

export async function startHaproxy(mode: "http" | "tcp", backends: Backend[]): Promise<Haproxy> {
  const dir = scratchDir("haproxy");
  const port = await freePort();
  const socket = join(dir, "admin.sock");
  const line = (b: Backend) =>
    `  server ${b.name} 127.0.0.1:${b.port}${b.check ? ` check port ${b.check.port} inter 1s fall 2 rise 1 on-marked-down shutdown-sessions` : ""}`;
  const checkPath = backends.find((b) => b.check)?.check?.path;
  const config = [
    "global",
    `  stats socket ${socket} mode 600 level admin`,
    "defaults",
    `  mode ${mode}`,
    "  timeout connect 3s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  retries 0",
    "frontend in",
    `  bind 127.0.0.1:${port}`,
    "  default_backend pods",
    "backend pods",
    ...(checkPath
      ? ["  option httpchk", `  http-check send meth GET uri ${checkPath}`, "  http-check expect status 200"]
      : []),
    ...backends.map(line),
    "",
  ].join("\n");
  writeFile(join(dir, "haproxy.cfg"), config);
  const server = new Server("haproxy", "haproxy", ["-db", "-f", join(dir, "haproxy.cfg")]);
  const command = (cmd: string) =>
    new Promise<string>((done, fail) => {
      const c = createConnection(socket);
      let out = "";
      c.on("data", (d) => {
        out += d.toString();
      });
      c.on("end", () => done(out.trim()));
      c.on("error", fail);
      c.write(`${cmd}\n`);
    });
  await waitFor(
    "haproxy",
    async () => ((await command("show info").catch(() => "")).includes("Name: HAProxy") ? true : undefined),
    30_000,
  );
  return {
    port,
    dir,
    server,
    command,
    async add(b) {
      const out = await command(`add server pods/${b.name} 127.0.0.1:${b.port}`);
      if (!/New server registered/i.test(out)) throw new Error(`haproxy add server ${b.name}: ${out}`);
      await command(`enable server pods/${b.name}`);
    },
    async remove(name) {
      await command(`disable server pods/${name}`);
    },
    async up() {
      // `show stat` is CSV: pxname, svname, ..., status (column 18).
      const rows = (await command("show stat")).split("\n").map((l) => l.split(","));
      return rows.filter((r) => r[0] === "pods" && r[1] !== "BACKEND" && r[17] === "UP").map((r) => r[1] as string);
    },
  };
}
