/**
 * A network namespace the test creates, joined to the host by a veth pair on a private /24, for
 * software that binds fixed ports on every address (Envoy Gateway's xDS, health and metrics
 * servers, Envoy's listeners): inside the namespace those binds reach nothing but the veth.
 * The host side gets the addresses the test gives it (clients, and relays to loopback servers).
 * Needs root (ip netns); everything is removed by `remove()`.
 */
import { execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { Server, waitFor } from "./servers";

export interface Netns {
  name: string;
  /** The namespace's own address on the veth. */
  inside: string;
  /** The host's first address on the veth; `hostAddress(i)` is its i-th extra one. */
  host: string;
  hostAddress(i: number): string;
  /** argv prefix that runs a command inside the namespace. */
  exec: string[];
  remove(): void;
}

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] });

/** Creates the namespace with `extraHostAddresses` more host-side addresses (.10, .11, ...). */
export function createNetns(prefix: string, extraHostAddresses = 0): Netns {
  const id = randomInt(1, 250);
  const name = `${prefix}-${process.pid}-${id}`;
  const net = `10.231.${id}`;
  const hostIf = `vh${process.pid % 100000}${id}`.slice(0, 15);
  const nsIf = `vn${process.pid % 100000}${id}`.slice(0, 15);
  const remove = () => {
    for (const args of [
      ["link", "del", hostIf],
      ["netns", "del", name],
    ]) {
      try {
        ip(...args);
      } catch {
        // already gone
      }
    }
  };
  try {
    ip("netns", "add", name);
    ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf);
    ip("link", "set", nsIf, "netns", name);
    ip("addr", "add", `${net}.1/24`, "dev", hostIf);
    for (let i = 0; i < extraHostAddresses; i++) ip("addr", "add", `${net}.${10 + i}/24`, "dev", hostIf);
    ip("link", "set", hostIf, "up");
    ip("-n", name, "addr", "add", `${net}.2/24`, "dev", nsIf);
    ip("-n", name, "link", "set", nsIf, "up");
    ip("-n", name, "link", "set", "lo", "up");
  } catch (err) {
    remove();
    throw new Error(`cannot create network namespace ${name} (needs root and ip netns): ${String(err)}`);
  }
  return {
    name,
    inside: `${net}.2`,
    host: `${net}.1`,
    hostAddress: (i) => `${net}.${10 + i}`,
    exec: ["ip", "netns", "exec", name],
    remove,
  };
}

const RELAY = `
const net = require("node:net");
const [host, port, toHost, toPort] = process.argv.slice(1);
net.createServer((client) => {
  const upstream = net.createConnection({ host: toHost, port: Number(toPort) });
  client.pipe(upstream).pipe(client);
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on("error", close);
  upstream.on("error", close);
}).listen(Number(port), host, () => console.log("listening"));
`;

/**
 * A TCP relay in a process of its own (so that a test blocked in spawnSync does not stall the
 * traffic through it): accepts on host:port and pipes each connection to target.
 */
export async function relay(host: string, port: number, target: { host: string; port: number }): Promise<Server> {
  const server = new Server(`relay-${host}-${port}`, process.execPath, [
    "-e",
    RELAY,
    host,
    String(port),
    target.host,
    String(target.port),
  ]);
  await waitFor(
    `relay ${host}:${port}`,
    () =>
      server.alive
        ? server.output.includes("listening") || undefined
        : Promise.reject(new Error(server.output.join("\n"))),
    15_000,
    100,
  );
  return server;
}
