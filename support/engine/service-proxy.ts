/**
 * The stand-in for kube-proxy in front of one Service of the engine loop's control plane: it reads
 * the Service's EndpointSlices, which the real EndpointSlice controller computes from the Service's
 * selector and the pods' labels (for the primary Service of PostgreSQL: the role label Patroni
 * writes on its own pod), and sends each new loopback connection to the process that plays the
 * ready endpoint's pod. As with kube-proxy, a connection stays where it was opened when the
 * endpoints change, and the last endpoints read stay in force while the API server is away.
 */
import { connect, createServer, type Socket } from "node:net";
import { freePort } from "../servers";
import { tie } from "./fault-proxy";
import type { Kube } from "./kube";

interface EndpointSlice {
  endpoints?: { conditions?: { ready?: boolean }; targetRef?: { kind: string; name: string } }[];
}

export interface ServiceProxy {
  port: number;
  /** The pods the Service sends to now (ready endpoints, by pod name). */
  readonly targets: string[];
  /** Each change of the targets: when (Date.now()) and to what. */
  readonly changes: { at: number; targets: string[] }[];
  close(): Promise<void>;
}

export async function startServiceProxy(
  kube: Kube,
  namespace: string,
  service: string,
  /** The loopback port of the process that plays each pod, by pod name. */
  portOf: (pod: string) => number | undefined,
  everyMs = 200,
): Promise<ServiceProxy> {
  const port = await freePort();
  let targets: string[] = [];
  const changes: { at: number; targets: string[] }[] = [];
  const path =
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices` +
    `?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`;
  let stopped = false;
  const poll = async () => {
    while (!stopped) {
      try {
        const slices = (await kube.get<{ items: EndpointSlice[] }>(path)).items;
        const now = slices
          .flatMap((s) => s.endpoints ?? [])
          .filter((e) => e.conditions?.ready !== false && e.targetRef?.kind === "Pod")
          .map((e) => e.targetRef?.name as string)
          .sort();
        if (now.join() !== targets.join()) {
          targets = now;
          changes.push({ at: Date.now(), targets: now });
        }
      } catch {
        // The API server is away: keep the endpoints last read, as kube-proxy keeps its rules.
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  };
  const polling = poll();

  const open = new Set<Socket>();
  const server = createServer((client) => {
    const pod = targets[Math.floor(Math.random() * targets.length)];
    const target = pod === undefined ? undefined : portOf(pod);
    // No endpoint: the connection is refused, as a Service without endpoints rejects it.
    if (target === undefined) return void client.destroy();
    const upstream = connect(target, "127.0.0.1");
    tie(client, upstream, open);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((done) => server.listen(port, "127.0.0.1", () => done()));
  return {
    port,
    get targets() {
      return targets;
    },
    changes,
    async close() {
      stopped = true;
      await polling;
      for (const s of open) s.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
