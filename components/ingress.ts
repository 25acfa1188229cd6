/**
 * The public entry: ingress-nginx Ingresses with a cert-manager certificate, and optionally the
 * ClusterIssuer (ACME HTTP-01) that signs it. Webhook paths go to the webhook processors when they
 * exist; the editor, API and /webhook-test/ go to main.
 */
import * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { labelContext, labels } from "./kubernetes/labels";
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

/** ingress-nginx annotations shared by both Ingresses: TLS only, rate and size limits, timeouts. */
export function nginxAnnotations(config: StackConfig): Record<string, string> {
  const i = config.ingress;
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
  config: StackConfig,
  namespace: Input<string>,
  name: string,
  paths: (IngressPath & { service: string })[],
  annotations: Record<string, string>,
) {
  return {
    metadata: { name, namespace, labels: labels(labelContext(config), "ingress"), annotations },
    spec: {
      ingressClassName: config.ingress.className,
      tls: [{ hosts: [config.domain], secretName: TLS_SECRET }],
      rules: [
        {
          host: config.domain,
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
export function ingressObjects(config: StackConfig, namespace: Input<string>) {
  const i = config.ingress;
  const base = nginxAnnotations(config);
  const webhookService = config.webhooks.enabled ? NAMES.webhook : NAMES.main;
  // Everything else, the test endpoints (/webhook-test/, /form-test/, /mcp-test/) included, goes to main.
  const editor = ingressObject(
    config,
    namespace,
    NAMES.main,
    [{ path: "/", pathType: "Prefix", service: NAMES.main }],
    {
      ...base,
      "cert-manager.io/cluster-issuer": i.clusterIssuer,
      ...(i.allowlistCidrs.length > 0
        ? { "nginx.ingress.kubernetes.io/whitelist-source-range": i.allowlistCidrs.join(",") }
        : {}),
    },
  );
  const webhooks = ingressObject(
    config,
    namespace,
    "n8n-webhooks",
    productionPaths().map((p) => ({ ...p, service: webhookService })),
    base,
  );
  return { editor, webhooks };
}

/** ACME ClusterIssuer with the HTTP-01 solver on this ingress class. */
export function clusterIssuerObject(config: StackConfig) {
  const i = config.ingress;
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name: i.clusterIssuer, labels: labels(labelContext(config), "ingress") },
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

export interface N8nIngressArgs {
  config: StackConfig;
  namespace: pulumi.Input<string>;
}

export class N8nIngress extends pulumi.ComponentResource {
  constructor(name: string, args: N8nIngressArgs, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:ingress:N8nIngress", name, {}, opts);
    const { config, namespace } = args;
    const issuer = config.ingress.createClusterIssuer
      ? new k8s.apiextensions.CustomResource(`${name}-clusterissuer`, clusterIssuerObject(config), { parent: this })
      : undefined;
    const { editor, webhooks } = ingressObjects(config, namespace);
    const after = { parent: this, dependsOn: issuer ? [issuer] : [] };
    new k8s.networking.v1.Ingress(`${name}-editor`, editor, after);
    new k8s.networking.v1.Ingress(`${name}-webhooks`, webhooks, after);
    this.registerOutputs({});
  }
}
