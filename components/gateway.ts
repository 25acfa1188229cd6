/**
 * The Gateway API edge (edge.kind gateway): HTTPRoutes with the same split as the Ingresses
 * (production endpoints to the webhook processors, everything else to main), attached to the
 * program's own Gateway (HTTPS listener for the domain, cert-manager's gateway-shim issues its
 * certificate, HTTP redirects to HTTPS) or to a platform team's Gateway by parentRef (then a
 * Certificate for the domain, and a ReferenceGrant that lets that Gateway read its Secret).
 *
 * The limits are not Core Gateway API: for Envoy Gateway they are its own policy objects
 * (SecurityPolicy authorization for the allowlist, BackendTrafficPolicy rateLimit and
 * requestBuffer) and HTTPRoute `timeouts.request`; config/edge.ts refuses them for "generic".
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { enforces, type GatewayEdge } from "../config/edge";
import { childrenOf } from "./children";
import {
  clusterIssuerObject,
  EDGE_COMPONENTS,
  type EdgeProps,
  productionEdgePaths,
  productionService,
  tlsOwner,
} from "./edge";
import { labels } from "./kubernetes/labels";
import { GATEWAY_LISTENERS, NAMES, PORTS } from "./kubernetes/names";

const GATEWAY_API = "gateway.networking.k8s.io";
const ENVOY_GATEWAY_API = "gateway.envoyproxy.io/v1alpha1";

const meta = (props: EdgeProps, name: string, annotations?: Record<string, string>) => ({
  name,
  namespace: props.ctx.namespace,
  labels: labels(props.ctx, "gateway"),
  ...(annotations ? { annotations } : {}),
});

/**
 * The program's own Gateway: one HTTPS listener for the domain that terminates TLS with the Secret
 * cert-manager's gateway-shim fills (the issuer annotation; the shim needs a hostname, tls.mode
 * Terminate and a Secret in the Gateway's namespace), and an HTTP listener for the redirect and
 * the ACME HTTP-01 solver. Only routes of this namespace attach.
 */
export function gatewayObject(props: EdgeProps, own: NonNullable<GatewayEdge["own"]>) {
  const allowedRoutes = { namespaces: { from: "Same" } };
  return {
    apiVersion: `${GATEWAY_API}/v1`,
    kind: "Gateway",
    // While the Ingress still renders (a migration), its Certificate keeps n8n-tls issued; the
    // Gateway takes the issuer annotation when it owns TLS.
    metadata: meta(
      props,
      own.name,
      tlsOwner(props.edge) === "gateway" ? { "cert-manager.io/cluster-issuer": props.edge.clusterIssuer } : undefined,
    ),
    spec: {
      gatewayClassName: own.className,
      listeners: [
        {
          ...GATEWAY_LISTENERS.https,
          protocol: "HTTPS",
          hostname: props.domain,
          tls: { mode: "Terminate", certificateRefs: [{ kind: "Secret", name: NAMES.tls }] },
          allowedRoutes,
        },
        { ...GATEWAY_LISTENERS.http, protocol: "HTTP", hostname: props.domain, allowedRoutes },
      ],
    },
  };
}

const parentRefOf = (p: GatewayEdge["parentRef"]) => ({
  group: GATEWAY_API,
  kind: "Gateway",
  name: p.name,
  namespace: p.namespace,
  ...(p.sectionName ? { sectionName: p.sectionName } : {}),
});

const backend = (service: string) => [{ name: service, port: PORTS.n8n }];

function route(props: EdgeProps, g: GatewayEdge, name: string, rules: unknown[]) {
  return {
    apiVersion: `${GATEWAY_API}/v1`,
    kind: "HTTPRoute",
    metadata: meta(props, name),
    spec: { parentRefs: [parentRefOf(g.parentRef)], hostnames: [props.domain], rules },
  };
}

/**
 * Two HTTPRoutes on the host, as the two Ingresses: the editor (`/`, everything else, the test
 * endpoints included: main) and the production endpoints (webhook processors, or main without
 * them). Gateway API picks the most specific match across both (Exact, then the longest
 * PathPrefix, which matches whole path segments), so `/webhook-test/x` stays on main.
 */
export function httpRouteObjects(props: EdgeProps, g: GatewayEdge) {
  const timeout = enforces(g.implementation, "proxyTimeoutSeconds")
    ? { timeouts: { request: `${props.edge.limits.proxyTimeoutSeconds}s` } }
    : {};
  const editor = route(props, g, NAMES.editorRoute, [
    { matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: backend(NAMES.main) },
  ]);
  const production = route(props, g, NAMES.productionRoute, [
    {
      matches: productionEdgePaths().map((p) => ({
        path: { type: p.match === "prefix" ? "PathPrefix" : "Exact", value: p.path },
      })),
      backendRefs: backend(productionService(props)),
      ...timeout,
    },
  ]);
  return { editor, production };
}

/** HTTP to HTTPS on the own Gateway's HTTP listener (cert-manager's solver route is more specific and wins). */
export function redirectRouteObject(props: EdgeProps, own: NonNullable<GatewayEdge["own"]>) {
  return {
    apiVersion: `${GATEWAY_API}/v1`,
    kind: "HTTPRoute",
    metadata: meta(props, NAMES.redirectRoute),
    spec: {
      parentRefs: [parentRefOf({ name: own.name, namespace: own.namespace, sectionName: GATEWAY_LISTENERS.http.name })],
      hostnames: [props.domain],
      rules: [{ filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }] }],
    },
  };
}

/** A platform Gateway's certificate for the domain, into the Secret its listener references. */
export function certificateObject(props: EdgeProps) {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: meta(props, NAMES.tls),
    spec: {
      secretName: NAMES.tls,
      dnsNames: [props.domain],
      issuerRef: { group: "cert-manager.io", kind: "ClusterIssuer", name: props.edge.clusterIssuer },
    },
  };
}

/** Lets the platform's Gateway (another namespace) reference the Secret n8n-tls here, and nothing else. */
export function referenceGrantObject(props: EdgeProps, g: GatewayEdge) {
  return {
    apiVersion: `${GATEWAY_API}/v1beta1`,
    kind: "ReferenceGrant",
    metadata: meta(props, `${NAMES.tls}-from-gateway`),
    spec: {
      from: [{ group: GATEWAY_API, kind: "Gateway", namespace: g.parentRef.namespace }],
      to: [{ group: "", kind: "Secret", name: NAMES.tls }],
    },
  };
}

const routeTarget = (name: string) => ({ group: GATEWAY_API, kind: "HTTPRoute", name });

/**
 * Envoy Gateway's policies for the limits. Per client IP (sourceCIDR Distinct): the production
 * endpoints get `rateLimitRps` per second; the editor gets the same average as a per-minute budget,
 * so that the editor's first page load (dozens of assets at once) is not refused. Bodies are
 * buffered up to `bodySizeMb` and refused with 413 above it. The allowlist guards the editor and
 * API only: production endpoints are called by the world.
 */
export function envoyGatewayPolicies(props: EdgeProps) {
  const e = props.edge;
  const perClient = [{ sourceCIDR: { type: "Distinct", value: "0.0.0.0/0" } }];
  const limits = (name: string, requests: number, unit: "Second" | "Minute") => ({
    apiVersion: ENVOY_GATEWAY_API,
    kind: "BackendTrafficPolicy",
    metadata: meta(props, `${name}-limits`),
    spec: {
      targetRefs: [routeTarget(name)],
      rateLimit: { local: { rules: [{ clientSelectors: perClient, limit: { requests, unit } }] } },
      requestBuffer: { limit: `${e.limits.bodySizeMb}Mi` },
    },
  });
  const allowlist =
    e.allowlistCidrs.length > 0
      ? [
          {
            apiVersion: ENVOY_GATEWAY_API,
            kind: "SecurityPolicy",
            metadata: meta(props, `${NAMES.editorRoute}-allowlist`),
            spec: {
              targetRefs: [routeTarget(NAMES.editorRoute)],
              authorization: {
                defaultAction: "Deny",
                rules: [{ name: "allowlist", action: "Allow", principal: { clientCIDRs: e.allowlistCidrs } }],
              },
            },
          },
        ]
      : [];
  return [
    limits(NAMES.editorRoute, e.limits.rateLimitRps * 60, "Minute"),
    limits(NAMES.productionRoute, e.limits.rateLimitRps, "Second"),
    ...allowlist,
  ];
}

/** Every object of the Gateway edge, in apply order (the Gateway before its routes and policies). */
export function gatewayEdgeObjects(props: EdgeProps, g: GatewayEdge) {
  const { editor, production } = httpRouteObjects(props, g);
  return {
    issuer:
      props.edge.createClusterIssuer && tlsOwner(props.edge) === "gateway" ? clusterIssuerObject(props) : undefined,
    gateway: g.own ? gatewayObject(props, g.own) : undefined,
    // A platform Gateway reads n8n-tls through the grant; the Certificate is ours once the Ingress's is gone.
    tls: g.certificate
      ? [...(tlsOwner(props.edge) === "gateway" ? [certificateObject(props)] : []), referenceGrantObject(props, g)]
      : [],
    routes: [editor, production, ...(g.own ? [redirectRouteObject(props, g.own)] : [])],
    policies: g.implementation === "envoy-gateway" ? envoyGatewayPolicies(props) : [],
  };
}

export class N8nGateway extends pulumi.ComponentResource {
  constructor(
    name: string,
    args: EdgeProps & { gateway: GatewayEdge; issuerAlias?: pulumi.Alias },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(EDGE_COMPONENTS.gateway.type, name, {}, opts);
    const child = childrenOf(this, opts);
    const o = gatewayEdgeObjects(args, args.gateway);
    const custom = (
      id: string,
      obj: { apiVersion: string; kind: string },
      deps: pulumi.Resource[] = [],
      aliases: pulumi.Alias[] = [],
    ) => new k8s.apiextensions.CustomResource(`${name}-${id}`, obj, child({ dependsOn: deps, aliases }));
    const issuer = o.issuer ? [custom("clusterissuer", o.issuer, [], args.issuerAlias ? [args.issuerAlias] : [])] : [];
    const gateway = o.gateway ? [custom("gateway", o.gateway, issuer)] : [];
    const tls = o.tls.map((t) => custom(t.metadata.name, t, issuer));
    const routes = o.routes.map((r) => custom(`route-${r.metadata.name}`, r, [...gateway, ...tls]));
    for (const p of o.policies) custom(`${p.kind.toLowerCase()}-${p.metadata.name}`, p, routes);
    this.registerOutputs({});
  }
}
