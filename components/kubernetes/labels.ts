/**
 * The app.kubernetes.io recommended labels every object carries (name, instance, component,
 * part-of, version, managed-by), from one helper.
 */
import type { StackConfig } from "../../config";
import { PROJECT } from "./names";

export type ComponentName =
  | "namespace"
  | "secrets"
  | "main"
  | "worker"
  | "webhook"
  | "postgres"
  | "postgres-bootstrap"
  | "postgres-config"
  | "postgres-dump"
  | "outbox-reaper"
  | "redis"
  | "network"
  | "ingress"
  | "gateway"
  | "monitoring";

/** The software a component's pods run: each part is labelled with its own version. */
export type AppName = "n8n" | "postgres" | "redis";

export interface LabelContext {
  /** The stack name; distinguishes instances of the cluster (app.kubernetes.io/instance). */
  readonly instance: string;
  /**
   * The version of this part's own software (app.kubernetes.io/version): n8n's on n8n objects, the
   * Spilo and Redis image tags on theirs, so an n8n upgrade changes no PostgreSQL or Redis pod template.
   */
  readonly version: string;
}

/**
 * The version an image reference names, as a label value: its tag ("4.0-p3" of
 * ghcr.io/zalando/spilo-17:4.0-p3), else the first 12 hex digits of its digest, else "latest".
 */
export function imageVersion(image: string): string {
  const [ref = "", digest] = image.split("@");
  const colon = ref.indexOf(":", ref.lastIndexOf("/") + 1);
  if (colon >= 0) return ref.slice(colon + 1).slice(0, 63);
  if (digest) return digest.replace(/^[a-z0-9]+:/, "").slice(0, 12);
  return "latest";
}

/** The version of each part's software, from the stack config. */
export function partVersion(config: StackConfig, app: AppName): string {
  return {
    n8n: config.n8n.version,
    postgres: imageVersion(config.postgres.image),
    redis: imageVersion(config.redis.image),
  }[app];
}

/** app.kubernetes.io/name per component: the software the pods run. */
const APP_NAMES: Record<ComponentName, AppName> = {
  namespace: "n8n",
  secrets: "n8n",
  main: "n8n",
  worker: "n8n",
  webhook: "n8n",
  postgres: "postgres",
  "postgres-bootstrap": "postgres",
  "postgres-config": "postgres",
  "postgres-dump": "postgres",
  "outbox-reaper": "postgres",
  redis: "redis",
  network: "n8n",
  ingress: "n8n",
  gateway: "n8n",
  monitoring: "n8n",
};

/** Labels that select a component's pods: stable across upgrades (no version). */
export function selectorLabels(ctx: Pick<LabelContext, "instance">, component: ComponentName): Record<string, string> {
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
