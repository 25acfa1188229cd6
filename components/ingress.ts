/**
 * The Ingress edge (edge.kind ingress, or beside the Gateway during a migration): two Ingresses
 * with a cert-manager certificate, and optionally the ClusterIssuer (ACME HTTP-01) that signs it.
 * Webhook paths go to the webhook processors when they exist; the editor, API and /webhook-test/ go
 * to main. ingress-nginx's annotations carry the limits only for that controller, which reads them.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import type { IngressEdge } from "../config/edge";
import { childrenOf } from "./children";
import { clusterIssuerObject, EDGE_COMPONENTS, type EdgeProps, productionEdgePaths, productionService } from "./edge";
import { labels } from "./kubernetes/labels";
import { NAMES, PORTS } from "./kubernetes/names";

export interface IngressPath {
  path: string;
  pathType: "Prefix" | "Exact";
}

/** Every production endpoint, as Ingress paths: they go to the webhook processors when there are any. */
export function productionPaths(): IngressPath[] {
  return productionEdgePaths().map((p) =>
    p.match === "prefix"
      ? { path: `${p.path}/`, pathType: "Prefix" as const }
      : { path: p.path, pathType: "Exact" as const },
  );
}

/** ingress-nginx annotations shared by both Ingresses: TLS only, rate and size limits, timeouts. */
export function nginxAnnotations(limits: StackConfig["edge"]["limits"]): Record<string, string> {
  const prefix = "nginx.ingress.kubernetes.io";
  return {
    [`${prefix}/ssl-redirect`]: "true",
    [`${prefix}/force-ssl-redirect`]: "true",
    // Per client IP, against credential brute force and webhook floods.
    [`${prefix}/limit-rps`]: String(limits.rateLimitRps),
    [`${prefix}/limit-burst-multiplier`]: "5",
    [`${prefix}/proxy-body-size`]: `${limits.bodySizeMb}m`,
    [`${prefix}/proxy-read-timeout`]: String(limits.proxyTimeoutSeconds),
    [`${prefix}/proxy-send-timeout`]: String(limits.proxyTimeoutSeconds),
    // The editor's push channel is a WebSocket/SSE stream: no response buffering.
    [`${prefix}/proxy-buffering`]: "off",
  };
}

function ingressObject(
  props: EdgeProps,
  ingress: IngressEdge,
  name: string,
  paths: (IngressPath & { service: string })[],
  annotations: Record<string, string>,
) {
  return {
    metadata: { name, namespace: props.ctx.namespace, labels: labels(props.ctx, "ingress"), annotations },
    spec: {
      ingressClassName: ingress.className,
      tls: [{ hosts: [props.domain], secretName: NAMES.tls }],
      rules: [
        {
          host: props.domain,
          http: {
            paths: paths.map((p) => ({
              path: p.path,
              pathType: p.pathType,
              backend: { service: { name: p.service, port: { number: PORTS.n8n } } },
            })),
          },
        },
      ],
    },
  } satisfies k8s.networking.v1.IngressArgs;
}

/**
 * Two Ingresses on one host: the editor (everything else, optional client allowlist, owns the
 * certificate) and the production endpoints: webhooks, forms, waiting executions and MCP (open to the
 * world, which calls them; shares the TLS Secret).
 */
export function ingressObjects(props: EdgeProps, ingress: IngressEdge) {
  const e = props.edge;
  const nginx = ingress.controller === "ingress-nginx";
  const base = nginx ? nginxAnnotations(e.limits) : {};
  // Everything else, the test endpoints (/webhook-test/, /form-test/, /mcp-test/) included, goes to main.
  const editor = ingressObject(
    props,
    ingress,
    NAMES.editorRoute,
    [{ path: "/", pathType: "Prefix", service: NAMES.main }],
    {
      ...base,
      "cert-manager.io/cluster-issuer": e.clusterIssuer,
      ...(nginx && e.allowlistCidrs.length > 0
        ? { "nginx.ingress.kubernetes.io/whitelist-source-range": e.allowlistCidrs.join(",") }
        : {}),
    },
  );
  const webhooks = ingressObject(
    props,
    ingress,
    NAMES.productionRoute,
    productionPaths().map((p) => ({ ...p, service: productionService(props) })),
    base,
  );
  return { editor, webhooks };
}

export class N8nIngress extends pulumi.ComponentResource {
  constructor(
    name: string,
    args: EdgeProps & { ingress: IngressEdge; issuerAlias?: pulumi.Alias },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(EDGE_COMPONENTS.ingress.type, name, {}, opts);
    const child = childrenOf(this, opts);
    // While the Ingress renders it owns TLS (components/edge.ts tlsOwner), a migration included.
    const issuer = args.edge.createClusterIssuer
      ? new k8s.apiextensions.CustomResource(
          `${name}-clusterissuer`,
          clusterIssuerObject(args),
          child(args.issuerAlias ? { aliases: [args.issuerAlias] } : {}),
        )
      : undefined;
    const { editor, webhooks } = ingressObjects(args, args.ingress);
    const after = child({ dependsOn: issuer ? [issuer] : [] });
    new k8s.networking.v1.Ingress(`${name}-editor`, editor, after);
    new k8s.networking.v1.Ingress(`${name}-webhooks`, webhooks, after);
    this.registerOutputs({});
  }
}
