/**
 * The kubelet's part in a pod's readiness, played for pods whose containers run as loopback
 * processes (kwok's pods are Ready once and stay so): a container whose process has exited makes
 * its pod NotReady at once (the kubelet sees the exit on its next relist, about a second); a running
 * one is probed with the rendered readinessProbe (httpGet path, periodSeconds, timeoutSeconds,
 * failureThreshold; successThreshold 1) against the process's loopback port. The Ready condition
 * is written to the pod's status, where the real EndpointSlice controller reads it.
 */
import type { Kube } from "./kube";

/** The parts of a rendered httpGet probe the stand-in follows. */
export interface Probe {
  httpGet?: { path: string };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}

export interface ProbedPod {
  pod: string;
  alive(): boolean;
  /** The loopback port the probe's named port stands for. */
  port(): number;
}

export function kubeletReadiness(kube: Kube, namespace: string, probe: Probe, pods: ProbedPod[]): () => Promise<void> {
  const path = probe.httpGet?.path ?? "/";
  const periodMs = (probe.periodSeconds ?? 10) * 1000;
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  const threshold = probe.failureThreshold ?? 3;
  let stopped = false;
  const loops = pods.map(async (p) => {
    let failures = 0;
    let nextProbe = 0;
    const podPath = `/api/v1/namespaces/${namespace}/pods/${p.pod}`;
    // Read live each time: a pod deleted and made again (an eviction) starts Ready by kwok's stage.
    const live = async () => {
      const pod = await kube.find(podPath).catch(() => undefined);
      const conditions = (pod?.status?.conditions ?? []) as { type: string; status: string }[];
      return pod ? conditions.find((c) => c.type === "Ready")?.status === "True" : undefined;
    };
    const set = async (value: boolean) => {
      const now = await live();
      if (now === undefined || now === value) return;
      const status = value ? "True" : "False";
      await kube
        .json(
          "PATCH",
          `${podPath}/status`,
          {
            status: {
              conditions: [
                { type: "Ready", status },
                { type: "ContainersReady", status },
              ],
            },
          },
          "application/strategic-merge-patch+json",
        )
        .catch(() => undefined);
    };
    while (!stopped) {
      if (!p.alive()) {
        failures = threshold;
        await set(false);
      } else if (Date.now() >= nextProbe) {
        nextProbe = Date.now() + periodMs;
        const res = await fetch(`http://127.0.0.1:${p.port()}${path}`, {
          signal: AbortSignal.timeout(timeoutMs),
        }).catch(() => undefined);
        failures = res?.ok ? 0 : failures + 1;
        if (failures === 0) await set(true);
        else if (failures >= threshold) await set(false);
      } else if (failures >= threshold) {
        // Keep a NotReady pod NotReady (e.g. made again by an eviction) until a probe succeeds.
        await set(false);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  });
  return async () => {
    stopped = true;
    await Promise.all(loops);
  };
}
