/** The app.kubernetes.io labels every object carries (ARCHITECTURE §1), from one helper. */
import { PROJECT } from "./names";

export type ComponentName =
  | "namespace"
  | "secrets"
  | "main"
  | "worker"
  | "webhook"
  | "postgres"
  | "postgres-bootstrap"
  | "postgres-dump"
  | "outbox-reaper"
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

/** app.kubernetes.io/name per component: the software the pods run. */
const APP_NAMES: Record<ComponentName, string> = {
  namespace: "n8n",
  secrets: "n8n",
  main: "n8n",
  worker: "n8n",
  webhook: "n8n",
  postgres: "postgres",
  "postgres-bootstrap": "postgres",
  "postgres-dump": "postgres",
  "outbox-reaper": "postgres",
  redis: "redis",
  network: "n8n",
  ingress: "n8n",
  monitoring: "n8n",
};

/** Labels that select a component's pods: stable across upgrades (no version). */
export function selectorLabels(ctx: LabelContext, component: ComponentName): Record<string, string> {
  return {
    "app.kubernetes.io/name": APP_NAMES[component],
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
