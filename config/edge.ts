/**
 * The public entry, resolved: which edges render (Gateway API routes, Ingress objects, or both
 * during a migration), the limits each one enforces, and where its proxy pods run. The limits
 * (rate, body size, timeout, client allowlist) are not in Core Gateway API nor in the Ingress API:
 * each is rendered only for an implementation that reads it, and a value set for one that cannot
 * enforce it is refused here (rules) instead of being dropped. Pure.
 */
import { GATEWAY_LISTENERS, NAMES } from "../components/kubernetes/names";
import type { ParsedConfig } from "./schema";

type ParsedEdge = ParsedConfig["edge"];

/** Defaults of the limits, where an implementation enforces them (the values earlier releases used). */
export const EDGE_LIMIT_DEFAULTS = { rateLimitRps: 20, bodySizeMb: 16, proxyTimeoutSeconds: 300 } as const;
export type EdgeLimit = keyof typeof EDGE_LIMIT_DEFAULTS;

/** What each edge implementation can enforce: the allowlist and each limit. */
export const ENFORCES: Record<string, ReadonlySet<EdgeLimit | "allowlistCidrs">> = {
  // SecurityPolicy authorization, BackendTrafficPolicy rateLimit and requestBuffer, HTTPRoute timeouts.
  "envoy-gateway": new Set(["allowlistCidrs", "rateLimitRps", "bodySizeMb", "proxyTimeoutSeconds"]),
  // Core Gateway API only: nothing of these.
  generic: new Set(),
  // whitelist-source-range, limit-rps, proxy-body-size, proxy-read/send-timeout.
  "ingress-nginx": new Set(["allowlistCidrs", "rateLimitRps", "bodySizeMb", "proxyTimeoutSeconds"]),
  other: new Set(),
};

/** The GatewayClass of the program's own Gateway when the stack names none: Envoy Gateway's quickstart class. */
export const DEFAULT_GATEWAY_CLASS = "eg";

/** Envoy Gateway runs its proxies in its own namespace, labelled with the Gateway they serve. */
const ENVOY_GATEWAY_NAMESPACE = "envoy-gateway-system";

export interface GatewayEdge {
  implementation: ParsedEdge["gateway"]["implementation"];
  /** The program's own Gateway (name, namespace, class), or undefined when the routes attach to a platform's. */
  own?: { name: string; namespace: string; className: string };
  /** Where the routes attach: the own Gateway's HTTPS listener, or the platform's parentRef. */
  parentRef: { name: string; namespace: string; sectionName?: string };
  /** The listener cert-manager's HTTP-01 solver attaches to (own Gateway: its HTTP listener). */
  acmeParentRef: { name: string; namespace: string; sectionName?: string };
  /** With a platform Gateway: the Certificate for the domain and the ReferenceGrant that lets it read it. */
  certificate: boolean;
  /** The proxy pods the NetworkPolicies admit. */
  dataPlane: { namespace: string; podLabels?: Record<string, string> };
}

export interface IngressEdge {
  className: string;
  controller: ParsedEdge["ingress"]["controller"];
  controllerNamespace: string;
}

export interface Edge {
  kind: ParsedEdge["kind"];
  /** The Gateway API routes, when they render. */
  gateway?: GatewayEdge;
  /** The Ingress objects, when they render (kind ingress, or kind gateway with keepIngress). */
  ingress?: IngressEdge;
  clusterIssuer: string;
  createClusterIssuer: boolean;
  acmeEmail?: string;
  acmeServer: string;
  allowlistCidrs: string[];
  /** The limits with their defaults; an edge renders the ones its implementation enforces. */
  limits: Record<EdgeLimit, number>;
  /** What the stack file sets itself, for the rules: the limits, and keys that apply to one edge only. */
  given: { limits: EdgeLimit[]; keepIngress: boolean; dataPlaneNamespace: boolean; className: boolean };
}

export function resolveEdge(parsed: ParsedEdge, namespace: string): Edge {
  const g = parsed.gateway;
  const own = g.parentRef
    ? undefined
    : { name: NAMES.gateway, namespace, className: g.className ?? DEFAULT_GATEWAY_CLASS };
  const parentRef = g.parentRef ?? { name: NAMES.gateway, namespace, sectionName: GATEWAY_LISTENERS.https.name };
  const envoy = g.implementation === "envoy-gateway";
  const owner = g.parentRef ?? { name: NAMES.gateway, namespace };
  const gateway: GatewayEdge = {
    implementation: g.implementation,
    own,
    parentRef,
    acmeParentRef: own
      ? { name: own.name, namespace, sectionName: GATEWAY_LISTENERS.http.name }
      : { name: owner.name, namespace: owner.namespace },
    certificate: own ? false : g.certificate,
    dataPlane: {
      // generic without a namespace is refused by the rules; "" never renders.
      namespace: g.dataPlane.namespace ?? (envoy ? ENVOY_GATEWAY_NAMESPACE : ""),
      podLabels:
        g.dataPlane.podLabels ??
        (envoy
          ? {
              "gateway.envoyproxy.io/owning-gateway-name": owner.name,
              "gateway.envoyproxy.io/owning-gateway-namespace": owner.namespace,
            }
          : undefined),
    },
  };
  const ingress: IngressEdge = {
    className: parsed.ingress.className,
    controller: parsed.ingress.controller,
    controllerNamespace: parsed.ingress.controllerNamespace,
  };
  const limits = (Object.keys(EDGE_LIMIT_DEFAULTS) as EdgeLimit[]).filter((k) => parsed[k] !== undefined);
  return {
    kind: parsed.kind,
    gateway: parsed.kind === "gateway" ? gateway : undefined,
    ingress: parsed.kind === "ingress" || (parsed.kind === "gateway" && parsed.keepIngress) ? ingress : undefined,
    clusterIssuer: parsed.clusterIssuer,
    createClusterIssuer: parsed.createClusterIssuer,
    acmeEmail: parsed.acmeEmail,
    acmeServer: parsed.acmeServer,
    allowlistCidrs: parsed.allowlistCidrs,
    limits: {
      rateLimitRps: parsed.rateLimitRps ?? EDGE_LIMIT_DEFAULTS.rateLimitRps,
      bodySizeMb: parsed.bodySizeMb ?? EDGE_LIMIT_DEFAULTS.bodySizeMb,
      proxyTimeoutSeconds: parsed.proxyTimeoutSeconds ?? EDGE_LIMIT_DEFAULTS.proxyTimeoutSeconds,
    },
    given: {
      limits,
      keepIngress: parsed.keepIngress,
      dataPlaneNamespace: g.dataPlane.namespace !== undefined,
      className: g.className !== undefined,
    },
  };
}

/** Whether an edge enforces a setting (the renderers ask this; so do the rules). */
export const enforces = (implementation: string, setting: EdgeLimit | "allowlistCidrs") =>
  ENFORCES[implementation]?.has(setting) ?? false;

interface EdgeProblem {
  path: string;
  value: unknown;
  message: string;
}

/** Settings the active edges cannot enforce, a generic Gateway without a data-plane namespace, and the rest. */
export function edgeProblems(edge: Edge): EdgeProblem[] {
  const problems: EdgeProblem[] = [];
  const active: { implementation: string; key: string }[] = [
    ...(edge.gateway ? [{ implementation: edge.gateway.implementation, key: "edge.gateway.implementation" }] : []),
    ...(edge.ingress ? [{ implementation: edge.ingress.controller, key: "edge.ingress.controller" }] : []),
  ];
  const settings: [EdgeLimit | "allowlistCidrs", unknown][] = [
    ...edge.given.limits.map((k) => [k, edge.limits[k]] as [EdgeLimit, number]),
    ...(edge.allowlistCidrs.length > 0 ? [["allowlistCidrs", edge.allowlistCidrs] as [string, unknown]] : []),
  ] as [EdgeLimit | "allowlistCidrs", unknown][];
  for (const [setting, value] of settings) {
    for (const a of active.filter((x) => !enforces(x.implementation, setting))) {
      problems.push({
        path: `edge.${setting}`,
        value,
        message: `cannot be enforced by ${a.key} "${a.implementation}" (${a.implementation === "generic" ? "Core Gateway API has no such field" : "no annotation of that controller is known"}): unset it, or choose ${a.key.endsWith("controller") ? '"ingress-nginx"' : '"envoy-gateway"'}`,
      });
    }
  }
  if (edge.kind === "none" && edge.given.limits.length + edge.allowlistCidrs.length > 0) {
    problems.push({
      path: "edge.kind",
      value: "none",
      message: "renders no edge, so the edge limits set here apply to nothing: unset them",
    });
  }
  if (edge.given.keepIngress && edge.kind !== "gateway") {
    problems.push({
      path: "edge.keepIngress",
      value: true,
      message: 'only applies with edge.kind "gateway" (it keeps the Ingress objects beside the Gateway routes)',
    });
  }
  if (edge.gateway && edge.gateway.implementation === "generic" && !edge.given.dataPlaneNamespace) {
    problems.push({
      path: "edge.gateway.dataPlane.namespace",
      value: undefined,
      message:
        'is required with edge.gateway.implementation "generic": the NetworkPolicies admit that namespace\'s proxy pods',
    });
  }
  if (edge.gateway && edge.gateway.own === undefined && edge.given.className) {
    problems.push({
      path: "edge.gateway.className",
      value: undefined,
      message:
        "applies to the program's own Gateway only; with edge.gateway.parentRef the platform's Gateway has its class",
    });
  }
  if (edge.createClusterIssuer && !edge.acmeEmail) {
    problems.push({
      path: "edge.acmeEmail",
      value: undefined,
      message: "is required when edge.createClusterIssuer is true (ACME registration needs a contact)",
    });
  }
  return problems;
}

/**
 * Keys of earlier releases that moved: a stack file that still has them gets an error that names
 * the new key (never a silent default for what the user had set).
 */
export const MOVED_KEYS: Record<string, string> = {
  ingress:
    'moved to edge: ingress.className, ingress.clusterIssuer and the limits are now edge.ingress.className, edge.clusterIssuer, edge.rateLimitRps, ...; set edge.kind "ingress" to keep the Ingress objects (README, "Edge: Gateway API or Ingress")',
  "network.ingressControllerNamespace": "moved to edge.ingress.controllerNamespace",
};

/** Problems for moved keys present in the raw stack config. */
export function movedKeyProblems(raw: unknown): EdgeProblem[] {
  if (raw === null || typeof raw !== "object") return [];
  const problems: EdgeProblem[] = [];
  for (const [key, message] of Object.entries(MOVED_KEYS)) {
    let node: unknown = raw;
    for (const part of key.split("."))
      node = node && typeof node === "object" ? (node as Record<string, unknown>)[part] : undefined;
    if (node !== undefined) problems.push({ path: key, value: node, message });
  }
  return problems;
}
