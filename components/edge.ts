/**
 * The public entry's intent, declared once for both edges (Gateway API routes and Ingress
 * objects): which n8n endpoints are production ones (to the webhook processors when they run) and
 * which go to main, the TLS Secret, and the ACME ClusterIssuer. components/gateway.ts and
 * components/ingress.ts turn it into their API's objects.
 */
import { type Alias, createUrn, type Input, type Resource } from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { type PartContext, partContext } from "./kubernetes/context";
import { labels } from "./kubernetes/labels";
import { NAMES } from "./kubernetes/names";

/**
 * n8n's HTTP endpoints: the defaults of @n8n/config's EndpointsConfig in the pinned release (the
 * program sets no N8N_ENDPOINT_*; test:real checks these against the installed n8n). `n8n webhook`
 * serves every production one; with N8N_DISABLE_PRODUCTION_MAIN_PROCESS main serves none of them,
 * and only main serves the test ones (n8n's abstract-server.js, `webhooksEnabled` and
 * `testWebhooksEnabled`).
 */
export const N8N_ENDPOINTS = {
  production: {
    webhook: "webhook",
    webhookWaiting: "webhook-waiting",
    form: "form",
    formWaiting: "form-waiting",
    mcp: "mcp",
  },
  test: { webhookTest: "webhook-test", formTest: "form-test", mcpTest: "mcp-test" },
} as const;

/** Exact paths beside webhook-waiting for human-in-the-loop callbacks (n8n-core's hitl-callback-reference). */
export const HITL_SUFFIXES = ["-slack", "-telegram"] as const;

/** One production path: a whole-segment prefix (`/form` matches `/form` and `/form/x`, never `/form-test`) or one exact path. */
export interface EdgePath {
  /** Without a trailing slash. */
  path: string;
  match: "prefix" | "exact";
}

/** Every production endpoint: they go to the webhook processors when there are any, else to main. */
export function productionEdgePaths(): EdgePath[] {
  const e = N8N_ENDPOINTS.production;
  return [
    ...Object.values(e).map((name) => ({ path: `/${name}`, match: "prefix" as const })),
    ...HITL_SUFFIXES.map((suffix) => ({ path: `/${e.webhookWaiting}${suffix}`, match: "exact" as const })),
  ];
}

/** What both edges take: the stack's context, the host, the resolved edge, and whether webhook processors run. */
export interface EdgeProps {
  /** Namespace, instance, and n8n's version as the version label. */
  readonly ctx: PartContext;
  /** The public host (TLS, listeners, route hostnames and rules). */
  readonly domain: string;
  readonly edge: StackConfig["edge"];
  /** Production endpoints go to the webhook processors when they run, else to main. */
  readonly webhooksEnabled: boolean;
}

export function edgeProps(config: StackConfig, namespace: Input<string>): EdgeProps {
  return {
    ctx: partContext(config, "n8n", namespace),
    domain: config.domain,
    edge: config.edge,
    webhooksEnabled: config.webhooks.enabled,
  };
}

/** The Service the production endpoints go to. */
export const productionService = (props: EdgeProps) => (props.webhooksEnabled ? NAMES.webhook : NAMES.main);

/**
 * Which edge owns the certificate and the ClusterIssuer: the Ingress while it renders (during a
 * migration DNS still points at it, so HTTP-01 challenges reach it, and the Gateway serves the same
 * Secret n8n-tls meanwhile), else the Gateway.
 */
export const tlsOwner = (edge: StackConfig["edge"]): "ingress" | "gateway" | undefined =>
  edge.ingress ? "ingress" : edge.gateway ? "gateway" : undefined;

/**
 * ACME ClusterIssuer with the HTTP-01 solver on the edge that owns TLS: an Ingress of the class,
 * or an HTTPRoute on the Gateway's HTTP listener (cert-manager's gatewayHTTPRoute solver).
 */
export function clusterIssuerObject(props: EdgeProps) {
  const e = props.edge;
  const solver =
    tlsOwner(e) === "gateway"
      ? { http01: { gatewayHTTPRoute: { parentRefs: [{ kind: "Gateway", ...e.gateway?.acmeParentRef }] } } }
      : { http01: { ingress: { ingressClassName: e.ingress?.className } } };
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name: e.clusterIssuer, labels: labels(props.ctx, tlsOwner(e) === "gateway" ? "gateway" : "ingress") },
    spec: {
      acme: {
        server: e.acmeServer,
        email: e.acmeEmail,
        privateKeySecretRef: { name: `${e.clusterIssuer}-account-key` },
        solvers: [solver],
      },
    },
  };
}

/** The components of the two edges, as cluster.ts names them: the ClusterIssuer moves between them. */
export const EDGE_COMPONENTS = {
  gateway: { suffix: "gateway", type: "n8n-cluster:gateway:N8nGateway" },
  ingress: { suffix: "ingress", type: "n8n-cluster:ingress:N8nIngress" },
} as const;

/**
 * The ClusterIssuer's alias in the other edge's component, so that moving TLS between the edges
 * (the migration's last step, or its rollback) is a rename in the state, not a delete and create
 * of a cluster-scoped object with the same name (which would delete it after the create).
 */
export function issuerAlias(cluster: string, parent: Resource, other: keyof typeof EDGE_COMPONENTS): Alias {
  const c = EDGE_COMPONENTS[other];
  return { name: `${cluster}-${c.suffix}-clusterissuer`, parent: createUrn(`${cluster}-${c.suffix}`, c.type, parent) };
}
