/**
 * The child process of support/engine/proxies.ts: the API server's fault proxy and the Service
 * stand-ins run here, in a process of their own, so that a test blocked in spawnSync (psql, the n8n
 * CLI) does not stall the traffic through them. Commands come over the IPC channel.
 */
import { type FaultProxy, startFaultProxy } from "./fault-proxy";
import { Kube } from "./kube";
import type { ProxyCommand, ProxyReply } from "./proxies";
import { type ServiceProxy, startServiceProxy } from "./service-proxy";

const [apiHost, apiPort] = (process.argv[2] ?? "").split(":");
const services = new Map<string, ServiceProxy>();

async function handle(api: FaultProxy, c: ProxyCommand): Promise<Omit<ProxyReply, "id">> {
  switch (c.op) {
    case "down":
      await api.down();
      return {};
    case "up":
      await api.up();
      return {};
    case "slow":
      api.slow(c.ms);
      return {};
    case "service": {
      // The stand-in reads the API server through the fault proxy, as kube-proxy would see it.
      const kube = new Kube({ server: `https://127.0.0.1:${api.port}`, token: c.token, ca: c.ca });
      const proxy = await startServiceProxy(kube, c.namespace, c.service, (pod) => c.ports[pod]);
      services.set(c.service, proxy);
      return { port: proxy.port };
    }
    case "state":
      return {
        services: Object.fromEntries(
          [...services].map(([name, s]) => [name, { targets: s.targets, changes: s.changes }]),
        ),
      };
    case "close":
      for (const s of services.values()) await s.close();
      await api.close();
      setTimeout(() => process.exit(0), 50);
      return {};
  }
}

startFaultProxy({ host: apiHost as string, port: Number(apiPort) }).then((api) => {
  process.on("message", (c: ProxyCommand) => {
    handle(api, c).then(
      (r) => process.send?.({ id: c.id, ...r }),
      (err: unknown) => process.send?.({ id: c.id, error: String(err) }),
    );
  });
  process.send?.({ id: 0, port: api.port });
});
