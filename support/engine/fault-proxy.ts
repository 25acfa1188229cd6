/**
 * A TCP proxy on loopback in front of a server, with faults a test switches on and off: `down`
 * (the listener closes and every open connection is reset, as when an API server restarts or a
 * control-plane upgrade takes it away: connections are refused) and `slow` (each chunk a client
 * sends reaches the server `ms` later, so every request, and each watch's start, takes that much
 * longer). TLS passes through untouched, so clients verify the server's own certificate.
 */
import { connect, createServer, type Server as NetServer, type Socket } from "node:net";
import { freePort } from "../servers";

export interface FaultProxy {
  port: number;
  /** Refuses connections and resets the open ones until `up()`. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Delays every chunk from client to server by `ms` (0: no delay). */
  slow(ms: number): void;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Tracks a client and its upstream in `open`; when either ends or fails, both are destroyed. */
export function tie(client: Socket, upstream: Socket, open: Set<Socket>): void {
  open.add(client).add(upstream);
  const drop = () => {
    client.destroy();
    upstream.destroy();
    open.delete(client);
    open.delete(upstream);
  };
  client.on("error", drop).on("close", drop);
  upstream.on("error", drop).on("close", drop);
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const port = await freePort();
  const open = new Set<Socket>();
  let delayMs = 0;
  let connections = 0;
  let server: NetServer | undefined;

  const pipe = (client: Socket) => {
    connections += 1;
    const upstream = connect(target.port, target.host);
    tie(client, upstream, open);
    // A queue per connection, so a chunk never overtakes one sent before it when the delay changes.
    const queue: { at: number; chunk: Buffer }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const drain = () => {
      timer = undefined;
      while (queue.length > 0 && (queue[0] as { at: number }).at <= Date.now()) {
        const next = queue.shift() as { chunk: Buffer };
        if (upstream.writable) upstream.write(next.chunk);
      }
      if (queue.length > 0) timer = setTimeout(drain, (queue[0] as { at: number }).at - Date.now());
    };
    client.on("data", (chunk: Buffer) => {
      queue.push({ at: Date.now() + delayMs, chunk });
      if (!timer) drain();
    });
    upstream.pipe(client);
  };
  const listen = () =>
    new Promise<void>((done, fail) => {
      server = createServer(pipe);
      server.once("error", fail);
      server.listen(port, "127.0.0.1", () => done());
    });
  const stop = () =>
    new Promise<void>((done) => {
      for (const s of open) s.destroy();
      open.clear();
      if (!server) return done();
      const s = server;
      server = undefined;
      s.close(() => done());
    });

  await listen();
  return {
    port,
    down: stop,
    up: async () => {
      if (!server) await listen();
    },
    slow(ms) {
      delayMs = ms;
    },
    get connections() {
      return connections;
    },
    close: stop,
  };
}
