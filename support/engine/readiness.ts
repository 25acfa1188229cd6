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
    let ready: boolean | undefined;
    let failures = 0;
    let nextProbe = 0;
    const set = async (value: boolean) => {
      if (ready === value) return;
      const status = value ? "True" : "False";
      await kube
        .json(
          "PATCH",
          `/api/v1/namespaces/${namespace}/pods/${p.pod}/status`,
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
        .then(
          () => {
            ready = value;
          },
          () => undefined,
        );
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
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  });
  return async () => {
    stopped = true;
    await Promise.all(loops);
  };
}
