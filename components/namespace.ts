/** The stack's Namespace, with Pod Security admission labels. Pure builder. */
import type { StackConfig } from "../config";
import { labels } from "./labels";

/**
 * Pod Security admission: n8n, its runners and Redis meet "restricted"; Spilo's entrypoint does not
 * (it starts as root to prepare its directories), so the namespace enforces "baseline" and warns and
 * audits at "restricted", which surfaces any other pod that falls short.
 */
export function namespaceObject(config: StackConfig) {
  return {
    metadata: {
      name: config.namespace,
      labels: {
        ...labels({ instance: config.stack, version: config.n8n.version }, "namespace"),
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
      },
    },
  };
}
