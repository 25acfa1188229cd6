/**
 * The engine suites' world: moto (the AWS API behind the aws stand-in provider), the control plane
 * with the CRDs of the operators the stacks render objects for, the ingress-status stand-in, and one
 * EngineStack per stack on it. Also the reads the suites make of what `pulumi up` left.
 */
import { join } from "node:path";
import type { Manifest } from "../../render/manifests";
import { freePort, Server, waitFor } from "../servers";
import { type ControlPlane, crdFiles, ENGINE_CACHE, ingressStatus, startControlPlane } from "./controlplane";
import type { Kube, KubeObject } from "./kube";
import { objectPath } from "./kube";
import { EngineStack } from "./pulumi";

export const MOTO = join(ENGINE_CACHE, "moto-5.2.5", "bin", "moto_server");

export interface EngineWorld {
  cp: ControlPlane;
  kube: Kube;
  awsEndpoint: string;
  moto: Server;
  stack(name: string, env?: Record<string, string>): Promise<EngineStack>;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<{ server: Server; endpoint: string }> {
  const port = await freePort();
  const server = new Server("moto", MOTO, ["-H", "127.0.0.1", "-p", String(port)]);
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(
    "moto",
    async () => (await fetch(`${endpoint}/moto-api/`).catch(() => undefined))?.ok || undefined,
    60_000,
  ).catch((e) => {
    throw new Error(`${e}\n${server.output.slice(-20).join("\n")}`);
  });
  return { server, endpoint };
}

export async function startWorld(): Promise<EngineWorld> {
  const moto = await startMoto();
  let cp: ControlPlane;
  try {
    cp = await startControlPlane({
      crds: crdFiles("cert-manager", "prometheus-operator", "gateway-api", "envoy-gateway", "keda", "external-secrets"),
    });
  } catch (err) {
    await moto.server.stop();
    throw err;
  }
  // A prerequisite of the stacks, as in a cluster with kube-prometheus-stack: the namespace Prometheus
  // and Grafana run in (network.prometheusNamespace; the dashboard ConfigMap goes there).
  await cp.kube.json("POST", "/api/v1/namespaces", {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "monitoring" },
  });
  const stopIngress = ingressStatus(cp.kube);
  return {
    cp,
    kube: cp.kube,
    awsEndpoint: moto.endpoint,
    moto: moto.server,
    stack: (name, env) => EngineStack.init(name, { kubeconfig: cp.kubeconfig, awsEndpoint: moto.endpoint, env }),
    stop: async () => {
      stopIngress();
      await cp.stop();
      await moto.server.stop();
    },
  };
}

/** The live object of a rendered manifest, or undefined. */
export function liveOf(kube: Kube, m: Manifest): Promise<KubeObject | undefined> {
  return kube.find(objectPath(m.apiVersion, m.kind, m.metadata.name, m.metadata.namespace));
}

interface Condition {
  type: string;
  status: string;
}

/** Why a workload is not done yet, or undefined when it is (ready Deployments and StatefulSets, complete Jobs). */
export function notReady(o: KubeObject): string | undefined {
  const spec = (o.spec ?? {}) as { replicas?: number };
  const status = (o.status ?? {}) as {
    readyReplicas?: number;
    updatedReplicas?: number;
    conditions?: Condition[];
    succeeded?: number;
  };
  const want = spec.replicas ?? 1;
  if (o.kind === "Deployment" || o.kind === "StatefulSet") {
    if ((status.readyReplicas ?? 0) < want)
      return `${o.kind}/${o.metadata.name}: ${status.readyReplicas ?? 0}/${want} ready`;
    return undefined;
  }
  if (o.kind === "Job") {
    const complete = (status.conditions ?? []).some((c) => c.type === "Complete" && c.status === "True");
    return complete ? undefined : `Job/${o.metadata.name} not complete`;
  }
  return undefined;
}
