/**
 * The public entry: ingress-nginx Ingresses with a cert-manager certificate, and optionally the
 * ClusterIssuer (ACME HTTP-01) that signs it. Webhook paths go to the webhook processors when they
 * exist; the editor, API and /webhook-test/ go to main.
 */
import * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { labelContext, labels } from "./labels";
import { NAMES, PORTS } from "./names";

/** The TLS Secret cert-manager writes the certificate into. */
export const TLS_SECRET = "n8n-tls";

/** Paths n8n serves production webhooks on (ARCHITECTURE §7). */
export const WEBHOOK_PATHS = ["/webhook/", "/webhook-waiting/"];

/** ingress-nginx annotations shared by both Ingresses: TLS only, rate and size limits, timeouts. */
export function nginxAnnotations(config: StackConfig): Record<string, string> {
  const i = config.ingress;
  const prefix = "nginx.ingress.kubernetes.io";
  return {
    [`${prefix}/ssl-redirect`]: "true",
    [`${prefix}/force-ssl-redirect`]: "true",
    // Per client IP, against credential brute force and webhook floods (REQUIREMENTS R2).
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
  paths: { path: string; service: string }[],
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
              pathType: "Prefix",
              backend: { service: { name: p.service, port: { number: PORTS.n8n } } },
            })),
          },
        },
      ],
    },
  };
}

/**
 * Two Ingresses on one host: the editor (everything else, optional client allowlist, owns the
 * certificate) and the webhooks (open to the world, which calls them; shares the TLS Secret).
 */
export function ingressObjects(config: StackConfig, namespace: Input<string>) {
  const i = config.ingress;
  const base = nginxAnnotations(config);
  const webhookService = config.webhooks.enabled ? NAMES.webhook : NAMES.main;
  const editor = ingressObject(config, namespace, NAMES.main, [{ path: "/", service: NAMES.main }], {
    ...base,
    "cert-manager.io/cluster-issuer": i.clusterIssuer,
    ...(i.allowlistCidrs.length > 0
      ? { "nginx.ingress.kubernetes.io/whitelist-source-range": i.allowlistCidrs.join(",") }
      : {}),
  });
  const webhooks = ingressObject(
    config,
    namespace,
    "n8n-webhooks",
    WEBHOOK_PATHS.map((path) => ({ path, service: webhookService })),
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
