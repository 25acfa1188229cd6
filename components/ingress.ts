/**
 * The public entry: ingress-nginx Ingresses with a cert-manager certificate, and optionally the
 * ClusterIssuer (ACME HTTP-01) that signs it. Webhook paths go to the webhook processors when they
 * exist; the editor, API and /webhook-test/ go to main.
 */
import * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { childrenOf } from "./children";
import { type PartContext, partContext } from "./kubernetes/context";
import { labels } from "./kubernetes/labels";
import { NAMES, PORTS } from "./kubernetes/names";

/** The TLS Secret cert-manager writes the certificate into. */
export const TLS_SECRET = "n8n-tls";

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

export interface IngressPath {
  path: string;
  pathType: "Prefix" | "Exact";
}

/** Every production endpoint, as Ingress paths: they go to the webhook processors when there are any. */
export function productionPaths(): IngressPath[] {
  const e = N8N_ENDPOINTS.production;
  return [
    ...Object.values(e).map((name) => ({ path: `/${name}/`, pathType: "Prefix" as const })),
    ...HITL_SUFFIXES.map((suffix) => ({ path: `/${e.webhookWaiting}${suffix}`, pathType: "Exact" as const })),
  ];
}

/** What the Ingress part takes: the stack's context, the host, and whether webhook processors run. */
export interface IngressProps {
  /** Namespace, instance, and n8n's version as the version label. */
  readonly ctx: PartContext;
  /** The public host (TLS and rules). */
  readonly domain: string;
  readonly ingress: StackConfig["ingress"];
  /** Production endpoints go to the webhook processors when they run, else to main. */
  readonly webhooksEnabled: boolean;
}

export function ingressProps(config: StackConfig, namespace: Input<string>): IngressProps {
  return {
    ctx: partContext(config, "n8n", namespace),
    domain: config.domain,
    ingress: config.ingress,
    webhooksEnabled: config.webhooks.enabled,
  };
}

/** ingress-nginx annotations shared by both Ingresses: TLS only, rate and size limits, timeouts. */
export function nginxAnnotations(i: StackConfig["ingress"]): Record<string, string> {
  const prefix = "nginx.ingress.kubernetes.io";
  return {
    [`${prefix}/ssl-redirect`]: "true",
    [`${prefix}/force-ssl-redirect`]: "true",
    // Per client IP, against credential brute force and webhook floods.
    [`${prefix}/limit-rps`]: String(i.rateLimitRps),
    [`${prefix}/limit-burst-multiplier`]: "5",
    [`${prefix}/proxy-body-size`]: `${i.bodySizeMb}m`,
    [`${prefix}/proxy-read-timeout`]: String(i.proxyTimeoutSeconds),
    [`${prefix}/proxy-send-timeout`]: String(i.proxyTimeoutSeconds),
    // The editor's push channel is a WebSocket/SSE stream: no response buffering.
    [`${prefix}/proxy-buffering`]: "off",
  };
}

function ingressObject(
  props: IngressProps,
  name: string,
  paths: (IngressPath & { service: string })[],
  annotations: Record<string, string>,
) {
  return {
    metadata: { name, namespace: props.ctx.namespace, labels: labels(props.ctx, "ingress"), annotations },
    spec: {
      ingressClassName: props.ingress.className,
      tls: [{ hosts: [props.domain], secretName: TLS_SECRET }],
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
export function ingressObjects(props: IngressProps) {
  const i = props.ingress;
  const base = nginxAnnotations(i);
  const webhookService = props.webhooksEnabled ? NAMES.webhook : NAMES.main;
  // Everything else, the test endpoints (/webhook-test/, /form-test/, /mcp-test/) included, goes to main.
  const editor = ingressObject(props, NAMES.main, [{ path: "/", pathType: "Prefix", service: NAMES.main }], {
    ...base,
    "cert-manager.io/cluster-issuer": i.clusterIssuer,
    ...(i.allowlistCidrs.length > 0
      ? { "nginx.ingress.kubernetes.io/whitelist-source-range": i.allowlistCidrs.join(",") }
      : {}),
  });
  const webhooks = ingressObject(
    props,
    "n8n-webhooks",
    productionPaths().map((p) => ({ ...p, service: webhookService })),
    base,
  );
  return { editor, webhooks };
}

/** ACME ClusterIssuer with the HTTP-01 solver on this ingress class. */
export function clusterIssuerObject(props: IngressProps) {
  const i = props.ingress;
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name: i.clusterIssuer, labels: labels(props.ctx, "ingress") },
    spec: {
      acme: {
        server: i.acmeServer,
        email: i.acmeEmail,
        privateKeySecretRef: { name: `${i.clusterIssuer}-account-key` },
        solvers: [{ http01: { ingress: { ingressClassName: i.className } } }],
      },
    },
  };
}

export class N8nIngress extends pulumi.ComponentResource {
  constructor(name: string, args: IngressProps, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:ingress:N8nIngress", name, {}, opts);
    const child = childrenOf(this, opts);
    const issuer = args.ingress.createClusterIssuer
      ? new k8s.apiextensions.CustomResource(`${name}-clusterissuer`, clusterIssuerObject(args), child())
      : undefined;
    const { editor, webhooks } = ingressObjects(args);
    const after = child({ dependsOn: issuer ? [issuer] : [] });
    new k8s.networking.v1.Ingress(`${name}-editor`, editor, after);
    new k8s.networking.v1.Ingress(`${name}-webhooks`, webhooks, after);
    this.registerOutputs({});
  }
}
