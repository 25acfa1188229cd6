/** The stack's Namespace, with Pod Security admission labels. Pure builder. */
import type * as k8s from "@pulumi/kubernetes";
import { type LabelContext, labels } from "./labels";

/**
 * Pod Security admission enforces "restricted": every pod the program makes meets it (n8n and its
 * runners, Spilo as uid 101 without capabilities, Redis, the Jobs), so anything else is refused.
 */
export function namespaceObject(name: string, ctx: LabelContext) {
  return {
    metadata: {
      name,
      labels: {
        ...labels(ctx, "namespace"),
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
      },
    },
  } satisfies k8s.core.v1.NamespaceArgs;
}
