/** The app.kubernetes.io labels every object carries (ARCHITECTURE §1), from one helper. */
import { PROJECT } from "./names";

export type ComponentName =
  | "namespace"
  | "secrets"
  | "main"
  | "worker"
  | "webhook"
  | "postgres"
  | "redis"
  | "network"
  | "ingress"
  | "monitoring";

export interface LabelContext {
  /** The stack name; distinguishes instances of the cluster. */
  instance: string;
  /** The n8n version; every object is labelled with it. */
  version: string;
}

/** Labels that select a component's pods: stable across upgrades (no version). */
export function selectorLabels(ctx: LabelContext, component: ComponentName): Record<string, string> {
  return {
    "app.kubernetes.io/name": component === "postgres" || component === "redis" ? component : "n8n",
    "app.kubernetes.io/instance": ctx.instance,
    "app.kubernetes.io/component": component,
  };
}

/** Full recommended label set for an object's metadata. */
export function labels(ctx: LabelContext, component: ComponentName): Record<string, string> {
  return {
    ...selectorLabels(ctx, component),
    "app.kubernetes.io/part-of": PROJECT,
    "app.kubernetes.io/version": ctx.version,
    "app.kubernetes.io/managed-by": "pulumi",
  };
}
