/**
 * NetworkPolicies as a flow table: the cluster's allowed connections are declared once as data
 * (`networkFlows`), and both the policies and the tests' expected reachability matrix are derived
 * from it. Default deny for ingress and egress, then one policy per flow and direction.
 */
import * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../../config";
import { childrenOf } from "../children";
import { cidrContains } from "../kubernetes/cidr";
import { type PartContext, partContext } from "../kubernetes/context";
import { type ComponentName, labels } from "../kubernetes/labels";
import { PORTS } from "../kubernetes/names";
import { LEADER_ROLE, ROLE_LABEL } from "../postgres/spilo";

/** One end of a flow. */
export type Endpoint =
  /** Every pod of this stack's namespace. */
  | { kind: "all" }
  /** Pods of this stack with one of these components (and these extra labels). */
  | { kind: "pods"; components: ComponentName[]; extraLabels?: Record<string, string> }
  /** Pods in this namespace that others create, known by their labels (cert-manager's solver). */
  | { kind: "labelled"; labels: Record<string, string> }
  /** Pods in another namespace (all of them unless labels are given). */
  | { kind: "namespace"; namespace: string; podLabels?: Record<string, string> }
  /** Addresses outside the cluster's pods. */
  | { kind: "cidrs"; cidrs: string[]; except: string[] };

export interface FlowPort {
  port: number;
  protocol: "TCP" | "UDP";
}

export interface Flow {
  /** Policy name stem; unique. */
  name: string;
  from: Endpoint;
  to: Endpoint;
  ports: FlowPort[];
}

/** cert-manager's HTTP-01 solver pods: their label and port. */
export const ACME_SOLVER_LABEL = "acme.cert-manager.io/http01-solver";
export const ACME_SOLVER_PORT = 8089;

const tcp = (...ports: number[]): FlowPort[] => ports.map((port) => ({ port, protocol: "TCP" }));
const pods = (...components: ComponentName[]): Endpoint => ({ kind: "pods", components });
const N8N: ComponentName[] = ["main", "worker", "webhook"];

/** n8n's flow to a server you run: its addresses, on its port (and the ports of its cluster nodes). */
function externalServer(name: string, server: { cidrs: string[]; port: number; clusterNodes?: string[] }): Flow {
  const ports = new Set([server.port, ...(server.clusterNodes ?? []).map((n) => Number(n.split(":").pop()))]);
  return {
    name,
    from: pods(...N8N),
    to: { kind: "cidrs", cidrs: server.cidrs, except: [] },
    ports: tcp(...[...ports].sort((a, b) => a - b)),
  };
}

/** The allowed connections of a stack (the README's "Network policies" table lists them). */
/** What the NetworkPolicies take: the stack's context and the settings that open or close flows. */
export interface NetworkProps {
  /** Namespace, instance (pods are selected by it), and n8n's version as the version label. */
  readonly ctx: PartContext;
  readonly network: StackConfig["network"];
  /** The edges that render: their proxy pods reach n8n, and cert-manager's HTTP-01 solver. */
  readonly edge: StackConfig["edge"];
  /** KEDA reads the queue length from Redis when it scales the workers. */
  readonly kedaScaling: boolean;
  /** External PostgreSQL or Redis: n8n reaches their addresses, and the in-cluster flows go. */
  readonly connections: StackConfig["connections"];
  /** n8n's object storage: n8n reaches S3 (and STS), or the storage you run. */
  readonly objectStorage: StackConfig["objectStorage"];
}

export function networkProps(config: StackConfig, namespace: Input<string>): NetworkProps {
  return {
    ctx: partContext(config, "n8n", namespace),
    network: config.network,
    edge: config.edge,
    kedaScaling: config.workers.queueScaling === "keda",
    connections: config.connections,
    objectStorage: config.objectStorage,
  };
}

/** n8n's flow to its object storage: S3 and STS on 443 (AWS), or the storage's addresses on its port. */
function objectStorageFlow(net: NetworkProps["network"], o: NonNullable<NetworkProps["objectStorage"]>): Flow {
  if (o.provider === "aws") {
    return {
      name: "n8n-to-s3",
      from: pods(...N8N),
      to: { kind: "cidrs", cidrs: net.s3Cidrs, except: net.egress.exceptCidrs },
      ports: tcp(443),
    };
  }
  const given = o.host.split(":")[1];
  const port = given ? Number(given) : o.protocol === "https" ? 443 : 80;
  return externalServer("n8n-to-object-storage", { cidrs: o.cidrs, port });
}

/**
 * Each edge's proxy pods reach main and the webhook processors, and cert-manager's HTTP-01 solver
 * (which cert-manager runs in this namespace, beside the Ingress or the solver's HTTPRoute).
 */
function edgeFlows(edge: StackConfig["edge"]): Flow[] {
  const sources: [string, Endpoint][] = [
    ...(edge.ingress
      ? [["ingress", { kind: "namespace", namespace: edge.ingress.controllerNamespace }] as [string, Endpoint]]
      : []),
    ...(edge.gateway
      ? [
          [
            "gateway",
            {
              kind: "namespace",
              namespace: edge.gateway.dataPlane.namespace,
              podLabels: edge.gateway.dataPlane.podLabels,
            },
          ] as [string, Endpoint],
        ]
      : []),
  ];
  return sources.flatMap(([name, from]) => [
    { name: `${name}-to-n8n`, from, to: pods("main", "webhook"), ports: tcp(PORTS.n8n) },
    {
      name: `${name}-to-acme-solver`,
      from,
      to: { kind: "labelled", labels: { [ACME_SOLVER_LABEL]: "true" } },
      ports: tcp(ACME_SOLVER_PORT),
    },
  ]);
}

export function networkFlows(props: NetworkProps): Flow[] {
  const net = props.network;
  const primary: Endpoint = { kind: "pods", components: ["postgres"], extraLabels: { [ROLE_LABEL]: LEADER_ROLE } };
  const prometheus: Endpoint = { kind: "namespace", namespace: net.prometheusNamespace };
  const { database: db, queue } = props.connections;
  const inClusterPostgres: Flow[] = [
    { name: "n8n-to-postgres", from: pods(...N8N), to: primary, ports: tcp(PORTS.postgres) },
    {
      name: "jobs-to-postgres",
      from: pods("postgres-bootstrap", "outbox-reaper"),
      to: primary,
      ports: tcp(PORTS.postgres),
    },
    {
      // The Job that applies Patroni's dynamic configuration (PATCH /config, authenticated).
      name: "patroni-config-to-postgres",
      from: pods("postgres-config"),
      to: pods("postgres"),
      ports: tcp(PORTS.patroni),
    },
    { name: "dump-to-postgres", from: pods("postgres-dump"), to: pods("postgres"), ports: tcp(PORTS.postgres) },
  ];
  const postgresInfrastructure: Flow[] = [
    { name: "postgres-peers", from: pods("postgres"), to: pods("postgres"), ports: tcp(PORTS.postgres, PORTS.patroni) },
    {
      name: "postgres-to-apiserver",
      from: pods("postgres"),
      to: { kind: "cidrs", cidrs: net.apiServer.cidrs, except: [] },
      ports: tcp(...net.apiServer.ports),
    },
    {
      name: "backups-to-s3",
      from: pods("postgres", "postgres-dump"),
      to: { kind: "cidrs", cidrs: net.s3Cidrs, except: net.egress.exceptCidrs },
      ports: tcp(443),
    },
  ];
  return [
    {
      name: "dns",
      from: { kind: "all" },
      to: { kind: "namespace", namespace: net.dns.namespace, podLabels: net.dns.podLabels },
      ports: [
        { port: PORTS.dns, protocol: "UDP" },
        { port: PORTS.dns, protocol: "TCP" },
      ],
    },
    ...edgeFlows(props.edge),
    ...(db.external ? [externalServer("n8n-to-postgres", db)] : inClusterPostgres),
    ...(queue.external
      ? [externalServer("n8n-to-redis", queue)]
      : [{ name: "n8n-to-redis", from: pods(...N8N), to: pods("redis"), ports: tcp(PORTS.redis) }]),
    ...(db.external ? [] : postgresInfrastructure),
    ...(props.objectStorage ? [objectStorageFlow(net, props.objectStorage)] : []),
    {
      name: "n8n-to-internet",
      from: pods(...N8N),
      to: { kind: "cidrs", cidrs: net.egress.cidrs, except: net.egress.exceptCidrs },
      ports: tcp(...net.egress.ports),
    },
    { name: "prometheus-to-n8n", from: prometheus, to: pods(...N8N), ports: tcp(PORTS.n8n) },
    ...(db.external
      ? []
      : [{ name: "prometheus-to-postgres", from: prometheus, to: pods("postgres"), ports: tcp(PORTS.patroni) }]),
    ...(queue.external
      ? []
      : [{ name: "prometheus-to-redis", from: prometheus, to: pods("redis"), ports: tcp(PORTS.redisExporter) }]),
    ...(props.kedaScaling && !queue.external
      ? [
          {
            name: "keda-to-redis",
            from: { kind: "namespace", namespace: net.kedaNamespace } as Endpoint,
            to: pods("redis"),
            ports: tcp(PORTS.redis),
          },
        ]
      : []),
  ];
}

/** Label selector of an in-namespace endpoint. */
function podSelector(ctx: PartContext, e: Endpoint) {
  if (e.kind === "all") return {};
  if (e.kind === "labelled") return { matchLabels: e.labels };
  if (e.kind !== "pods") throw new Error(`${e.kind} endpoints select no pods of this namespace`);
  return {
    matchLabels: { "app.kubernetes.io/instance": ctx.instance, ...(e.extraLabels ?? {}) },
    matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: [...e.components] }],
  };
}

/** NetworkPolicy peers for an endpoint seen from this namespace. */
function peers(ctx: PartContext, e: Endpoint) {
  switch (e.kind) {
    case "all":
    case "pods":
    case "labelled":
      return [{ podSelector: podSelector(ctx, e) }];
    case "namespace":
      return [
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": e.namespace } },
          ...(e.podLabels ? { podSelector: { matchLabels: e.podLabels } } : {}),
        },
      ];
    case "cidrs":
      // Kubernetes rejects an except that is not inside its CIDR: keep only the ones that are.
      return e.cidrs.map((cidr) => {
        const except = e.except.filter((x) => x !== cidr && cidrContains(cidr, x));
        return { ipBlock: { cidr, ...(except.length > 0 ? { except } : {}) } };
      });
  }
}

const inNamespace = (e: Endpoint) => e.kind === "all" || e.kind === "pods" || e.kind === "labelled";

export function defaultDenyPolicy(ctx: PartContext) {
  return {
    metadata: { name: "default-deny", namespace: ctx.namespace, labels: labels(ctx, "network") },
    spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
  } satisfies k8s.networking.v1.NetworkPolicyArgs;
}

/**
 * The policies of one flow: an egress policy on the source when the source is in this namespace,
 * an ingress policy on the destination when the destination is.
 */
export function flowPolicies(ctx: PartContext, flow: Flow) {
  const meta = (direction: string) => ({
    name: `allow-${flow.name}-${direction}`,
    namespace: ctx.namespace,
    labels: labels(ctx, "network"),
  });
  const ports = flow.ports.map((p) => ({ port: p.port, protocol: p.protocol }));
  const out = [];
  if (inNamespace(flow.from)) {
    out.push({
      metadata: meta("egress"),
      spec: {
        podSelector: podSelector(ctx, flow.from),
        policyTypes: ["Egress"],
        egress: [{ to: peers(ctx, flow.to), ports }],
      },
    });
  }
  if (inNamespace(flow.to)) {
    out.push({
      metadata: meta("ingress"),
      spec: {
        podSelector: podSelector(ctx, flow.to),
        policyTypes: ["Ingress"],
        ingress: [{ from: peers(ctx, flow.from), ports }],
      },
    });
  }
  return out;
}

export function networkPolicies(props: NetworkProps) {
  return [defaultDenyPolicy(props.ctx), ...networkFlows(props).flatMap((f) => flowPolicies(props.ctx, f))];
}

export class N8nNetworkPolicies extends pulumi.ComponentResource {
  constructor(name: string, args: NetworkProps, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:network:N8nNetworkPolicies", name, {}, opts);
    const child = childrenOf(this, opts);
    for (const policy of networkPolicies(args)) {
      new k8s.networking.v1.NetworkPolicy(`${name}-${policy.metadata.name}`, policy, child());
    }
    this.registerOutputs({});
  }
}
