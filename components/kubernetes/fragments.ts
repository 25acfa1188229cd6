/**
 * Small Kubernetes fragments every part writes the same way, each written once: a plain env var,
 * resource requirements from a preset, an HTTP probe, and the label a ServiceMonitor selects a
 * Service by.
 */
import type { Resources } from "../../config/presets";
import { SERVICE_LABEL } from "./names";

/** An env var of a container: a plain value, or a reference to a Secret key. */
export type EnvVar =
  | { name: string; value: string }
  | { name: string; valueFrom: { secretKeyRef: { name: string; key: string } } }
  | { name: string; valueFrom: { configMapKeyRef: { name: string; key: string } } };

/** An env var read from a key of a Secret (copied, so no two objects share the reference). */
export const envFromSecretKey = (name: string, ref: { name: string; key: string }): EnvVar => ({
  name,
  valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } },
});

/** An env var read from a key of a ConfigMap (a value known only once a resource exists, e.g. a bucket name). */
export const envFromConfigMapKey = (name: string, ref: { name: string; key: string }): EnvVar => ({
  name,
  valueFrom: { configMapKeyRef: { name: ref.name, key: ref.key } },
});

/** A plain env var; numbers and booleans as the strings containers see. */
export const envValue = (name: string, v: string | number | boolean): EnvVar => ({ name, value: String(v) });

/** Requests and limits of a resolved size (copies, so no two objects share one). */
export function resourceRequirements(r: Resources) {
  return { requests: { ...r.requests }, limits: { ...r.limits } };
}

/** An HTTP GET probe; timeoutSeconds 5 unless left out (null), failureThreshold only when given. */
export function httpGetProbe(
  path: string,
  port: string,
  periodSeconds: number,
  failureThreshold?: number,
  timeoutSeconds: number | null = 5,
) {
  return {
    httpGet: { path, port },
    periodSeconds,
    ...(timeoutSeconds === null ? {} : { timeoutSeconds }),
    ...(failureThreshold === undefined ? {} : { failureThreshold }),
  };
}

/** A Service's labels: its part's labels plus the one a ServiceMonitor selects it by. */
export function serviceLabels(labels: Record<string, string>, serviceName: string): Record<string, string> {
  return { ...labels, [SERVICE_LABEL]: serviceName };
}
