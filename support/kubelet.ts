/**
 * How the kubelet turns a container's `env` into the process environment, for tests: values from
 * ConfigMaps (looked up in the rendered manifests), Secrets and the downward API, and dependent
 * variables — `$(NAME)` in a `value` expands to an earlier variable, `$$` is a literal `$`, and a
 * reference to an unknown name stays as written (Kubernetes' third_party/forked/golang/expansion).
 */
import type { Manifest } from "../render/manifests";

export interface KubeletEnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}

export interface EnvSources {
  manifests?: Manifest[];
  secret?: (name: string, key: string) => string;
  field?: (path: string) => string;
}

/** Expands $(NAME) references against `defined`, as the kubelet does for `value`, command and args. */
export function expand(input: string, defined: Record<string, string>): string {
  let out = "";
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch !== "$" || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === "$") {
      out += "$";
      i++;
    } else if (next === "(") {
      const close = input.indexOf(")", i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      out += name in defined ? defined[name] : `$(${name})`;
      i = close;
    } else out += ch;
  }
  return out;
}

function configMapValue(manifests: Manifest[], name: string, key: string): string {
  const cm = manifests.find((m) => m.kind === "ConfigMap" && m.metadata.name === name);
  const value = (cm?.data as Record<string, string> | undefined)?.[key];
  if (value === undefined) throw new Error(`ConfigMap ${name} has no key ${key}`);
  return value;
}

/** The process environment the kubelet gives a container. */
export function containerEnv(env: KubeletEnvVar[], sources: EnvSources = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    const from = e.valueFrom;
    if (e.value !== undefined) out[e.name] = expand(e.value, out);
    else if (from?.configMapKeyRef)
      out[e.name] = configMapValue(sources.manifests ?? [], from.configMapKeyRef.name, from.configMapKeyRef.key);
    else if (from?.secretKeyRef)
      out[e.name] = (sources.secret ?? ((n, k) => `<secret:${n}/${k}>`))(from.secretKeyRef.name, from.secretKeyRef.key);
    else if (from?.fieldRef) out[e.name] = (sources.field ?? ((p) => `<field:${p}>`))(from.fieldRef.fieldPath);
    else out[e.name] = "";
  }
  return out;
}

interface PodWithConfigMaps {
  containers: { name: string; volumeMounts?: { name: string; mountPath: string; subPath?: string }[] }[];
  volumes?: { name: string; configMap?: { name: string; items?: { key: string; path: string }[] } }[];
}

/** The files a container reads from its ConfigMap volumes, as the kubelet mounts them: path -> content. */
export function mountedConfigMapFiles(
  manifests: Manifest[],
  pod: PodWithConfigMaps,
  containerName: string,
): Record<string, string> {
  const c = pod.containers.find((x) => x.name === containerName);
  const files: Record<string, string> = {};
  for (const m of c?.volumeMounts ?? []) {
    const volume = pod.volumes?.find((v) => v.name === m.name);
    if (!volume?.configMap) continue;
    const name = volume.configMap.name;
    const data = manifests.find((x) => x.kind === "ConfigMap" && x.metadata.name === name)?.data as
      | Record<string, string>
      | undefined;
    if (!data) throw new Error(`ConfigMap ${name} is not rendered`);
    const items = volume.configMap.items ?? Object.keys(data).map((key) => ({ key, path: key }));
    for (const item of items) {
      if (m.subPath === undefined) files[`${m.mountPath}/${item.path}`] = data[item.key] as string;
      else if (m.subPath === item.path) files[m.mountPath] = data[item.key] as string;
    }
  }
  return files;
}

/** How the kubelet stops a container of a pod: its preStop sleep and the pod's grace period. */
export interface PodTermination {
  preStopSeconds: number;
  graceSeconds: number;
}

/** The termination settings of the `n8n` container of a rendered Deployment. */
export function podTermination(deployment: Manifest, container = "n8n"): PodTermination {
  const spec = (
    deployment.spec as {
      template: {
        spec: {
          terminationGracePeriodSeconds?: number;
          containers: { name: string; lifecycle?: { preStop?: { sleep?: { seconds: number } } } }[];
        };
      };
    }
  ).template.spec;
  const c = spec.containers.find((x) => x.name === container);
  return {
    preStopSeconds: c?.lifecycle?.preStop?.sleep?.seconds ?? 0,
    // Kubernetes' default when the pod does not say.
    graceSeconds: spec.terminationGracePeriodSeconds ?? 30,
  };
}

interface Signalable {
  alive: boolean;
  signal(sig: NodeJS.Signals): void;
}

/**
 * Terminates a process the way the kubelet stops a container (kuberuntime_container.go,
 * killContainer): the pod is marked terminating (`onTerminating`: the endpoints controller drops it
 * meanwhile), the preStop hook runs inside the grace period, then SIGTERM, and SIGKILL when the
 * grace period (counted from the start, never less than 2 s after the hook) runs out.
 */
export async function terminate(
  server: Signalable,
  t: PodTermination,
  onTerminating?: () => void | Promise<void>,
): Promise<{ seconds: number; killed: boolean }> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  await onTerminating?.();
  await new Promise((r) => setTimeout(r, Math.min(t.preStopSeconds, t.graceSeconds) * 1000));
  const killAt = Math.max(t.graceSeconds, elapsed() + 2);
  server.signal("SIGTERM");
  while (server.alive && elapsed() < killAt) await new Promise((r) => setTimeout(r, 100));
  const killed = server.alive;
  if (killed) {
    server.signal("SIGKILL");
    while (server.alive) await new Promise((r) => setTimeout(r, 50));
  }
  return { seconds: elapsed(), killed };
}
