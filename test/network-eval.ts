/**
 * A pure NetworkPolicy evaluator: given rendered policies, namespaces and pods, may A reach B (a
 * pod or an address) on a port? Kubernetes semantics: a connection needs the source's egress and
 * the destination's ingress; a pod no policy selects for a direction is open in that direction;
 * ipBlocks match addresses (pod IPs included, as Calico and Cilium do).
 */
import { cidrContainsIp } from "../components/kubernetes/cidr";

export interface LabelSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}
export interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
export interface PolicyPort {
  port?: number | string;
  endPort?: number;
  protocol?: string;
}
export interface NetworkPolicy {
  metadata: { name: string; namespace: string };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: string[];
    ingress?: { from?: PolicyPeer[]; ports?: PolicyPort[] }[];
    egress?: { to?: PolicyPeer[]; ports?: PolicyPort[] }[];
  };
}

export interface Pod {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  ip: string;
  /** Named container ports, for policies that name their port. */
  namedPorts?: Record<string, number>;
}

export type Endpoint = { pod: Pod } | { ip: string };

export interface World {
  policies: NetworkPolicy[];
  /** Labels of every namespace (kubernetes.io/metadata.name is added automatically). */
  namespaces: Record<string, Record<string, string>>;
}

export function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const req of selector.matchExpressions ?? []) {
    const has = req.key in labels;
    const value = labels[req.key];
    const ok =
      req.operator === "In"
        ? has && (req.values ?? []).includes(value as string)
        : req.operator === "NotIn"
          ? !has || !(req.values ?? []).includes(value as string)
          : req.operator === "Exists"
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

function namespaceLabels(world: World, ns: string): Record<string, string> {
  return { ...(world.namespaces[ns] ?? {}), "kubernetes.io/metadata.name": ns };
}

function ipOf(e: Endpoint): string {
  return "pod" in e ? e.pod.ip : e.ip;
}

/** Whether a peer of a policy in `policyNamespace` matches an endpoint. */
function peerMatches(world: World, policyNamespace: string, peer: PolicyPeer, e: Endpoint): boolean {
  if (peer.ipBlock) {
    const ip = ipOf(e);
    return cidrContainsIp(peer.ipBlock.cidr, ip) && !(peer.ipBlock.except ?? []).some((x) => cidrContainsIp(x, ip));
  }
  if (!("pod" in e)) return false;
  const pod = e.pod;
  const namespaceOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector, namespaceLabels(world, pod.namespace))
    : pod.namespace === policyNamespace;
  return namespaceOk && selects(peer.podSelector, pod.labels);
}

function portMatches(ports: PolicyPort[] | undefined, target: Endpoint, port: number, protocol: string): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? "TCP") !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === "string") return "pod" in target && target.pod.namedPorts?.[p.port] === port;
    return p.endPort !== undefined ? port >= p.port && port <= p.endPort : port === p.port;
  });
}

function policiesFor(world: World, pod: Pod, type: "Ingress" | "Egress"): NetworkPolicy[] {
  return world.policies.filter(
    (p) =>
      p.metadata.namespace === pod.namespace &&
      selects(p.spec.podSelector, pod.labels) &&
      // Without policyTypes a policy governs Ingress, and Egress too when it has egress rules.
      (p.spec.policyTypes ?? ["Ingress", ...(p.spec.egress ? ["Egress"] : [])]).includes(type),
  );
}

function egressAllowed(world: World, from: Pod, to: Endpoint, port: number, protocol: string): boolean {
  const applied = policiesFor(world, from, "Egress");
  if (applied.length === 0) return true;
  return applied.some((p) =>
    (p.spec.egress ?? []).some(
      (rule) =>
        (rule.to === undefined ||
          rule.to.length === 0 ||
          rule.to.some((peer) => peerMatches(world, p.metadata.namespace, peer, to))) &&
        portMatches(rule.ports, to, port, protocol),
    ),
  );
}

function ingressAllowed(world: World, from: Endpoint, to: Pod, port: number, protocol: string): boolean {
  const applied = policiesFor(world, to, "Ingress");
  if (applied.length === 0) return true;
  return applied.some((p) =>
    (p.spec.ingress ?? []).some(
      (rule) =>
        (rule.from === undefined ||
          rule.from.length === 0 ||
          rule.from.some((peer) => peerMatches(world, p.metadata.namespace, peer, from))) &&
        portMatches(rule.ports, { pod: to }, port, protocol),
    ),
  );
}

/** May `from` open a connection to `to` on `port`/`protocol`? */
export function mayConnect(world: World, from: Endpoint, to: Endpoint, port: number, protocol = "TCP"): boolean {
  const egress = "pod" in from ? egressAllowed(world, from.pod, to, port, protocol) : true;
  const ingress = "pod" in to ? ingressAllowed(world, from, to.pod, port, protocol) : true;
  return egress && ingress;
}
