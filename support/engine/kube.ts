/**
 * A small client of the real API server of the engine suites: requests with the admin token over
 * TLS verified against the test CA, server-side apply, and reads of the objects the program made.
 */
import { request } from "node:https";

export interface KubeAccess {
  server: string;
  token: string;
  ca: string;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    managedFields?: { manager: string; operation: string; time?: string }[];
    ownerReferences?: { kind: string; name: string }[];
    [k: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
  [k: string]: unknown;
}

export class KubeError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: HTTP ${status}: ${body.slice(0, 2000)}`);
  }
}

export class Kube {
  constructor(readonly access: KubeAccess) {}

  async call(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<{ status: number; text: string }> {
    const url = new URL(path, this.access.server);
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    return new Promise((done, fail) => {
      const req = request(
        url,
        {
          method,
          ca: this.access.ca,
          headers: {
            authorization: `Bearer ${this.access.token}`,
            accept: "application/json",
            ...(payload ? { "content-type": contentType, "content-length": Buffer.byteLength(payload) } : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d) => {
            text += d;
          });
          res.on("end", () => done({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on("error", fail);
      if (payload) req.write(payload);
      req.end();
    });
  }

  async json<T = KubeObject>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const r = await this.call(method, path, body, contentType);
    if (r.status >= 300) throw new KubeError(r.status, r.text, `${method} ${path}`);
    return JSON.parse(r.text) as T;
  }

  get<T = KubeObject>(path: string): Promise<T> {
    return this.json<T>("GET", path);
  }

  /** The object, or undefined when the server says 404. */
  async find<T = KubeObject>(path: string): Promise<T | undefined> {
    const r = await this.call("GET", path);
    if (r.status === 404) return undefined;
    if (r.status >= 300) throw new KubeError(r.status, r.text, `GET ${path}`);
    return JSON.parse(r.text) as T;
  }

  async list(path: string): Promise<KubeObject[]> {
    return (await this.get<{ items: KubeObject[] }>(path)).items;
  }

  /** Server-side apply as `manager`. */
  apply(path: string, object: unknown, manager: string, force = true): Promise<KubeObject> {
    return this.json(
      "PATCH",
      `${path}?fieldManager=${encodeURIComponent(manager)}${force ? "&force=true" : ""}`,
      object,
      "application/apply-patch+yaml",
    );
  }

  mergePatch(path: string, patch: unknown): Promise<KubeObject> {
    return this.json("PATCH", path, patch, "application/merge-patch+json");
  }
}

/** The REST path of an object of a kind the program renders (core and the groups it uses). */
export function objectPath(apiVersion: string, kind: string, name?: string, namespace?: string): string {
  const plural = PLURALS[kind] ?? `${kind.toLowerCase()}s`;
  const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = namespace ? `/namespaces/${namespace}` : "";
  return `${base}${ns}/${plural}${name ? `/${name}` : ""}`;
}

const PLURALS: Record<string, string> = {
  Ingress: "ingresses",
  NetworkPolicy: "networkpolicies",
  PodDisruptionBudget: "poddisruptionbudgets",
  StorageClass: "storageclasses",
  HorizontalPodAutoscaler: "horizontalpodautoscalers",
  ClusterIssuer: "clusterissuers",
  PrometheusRule: "prometheusrules",
  ServiceMonitor: "servicemonitors",
  PodMonitor: "podmonitors",
  ScaledObject: "scaledobjects",
  ExternalSecret: "externalsecrets",
  SecretStore: "secretstores",
  ClusterSecretStore: "clustersecretstores",
  Endpoints: "endpoints",
  Policy: "policies",
  GatewayClass: "gatewayclasses",
  EnvoyProxy: "envoyproxies",
  ValidatingAdmissionPolicy: "validatingadmissionpolicies",
  ValidatingAdmissionPolicyBinding: "validatingadmissionpolicybindings",
  SecurityPolicy: "securitypolicies",
  BackendTrafficPolicy: "backendtrafficpolicies",
  ClientTrafficPolicy: "clienttrafficpolicies",
  EnvoyPatchPolicy: "envoypatchpolicies",
};
