/**
 * Pure spec builders for the n8n processes: one pod builder for the three roles (main, worker,
 * webhook), with the task-runner sidecar, and the Deployment, Service, PDB, HPA or KEDA
 * ScaledObject around it. Plain data in, plain Kubernetes specs out.
 */
import type * as k8s from "@pulumi/kubernetes";
import { WEB_IDENTITY_TOKEN, webIdentityTokenMount, webIdentityTokenVolume } from "../kubernetes/aws-identity";
import { envFromSecretKey, httpGetProbe, resourceRequirements, serviceLabels } from "../kubernetes/fragments";
import { type ComponentName, labels, selectorLabels } from "../kubernetes/labels";
import { KEY_SOURCE_ANNOTATION, NAMES, PORTS } from "../kubernetes/names";
import {
  restrictedContainerSecurityContext,
  restrictedPodSecurityContext,
  scratchVolume,
} from "../kubernetes/pod-security";
import { caVolumes, type N8nRole, n8nEnv, runnerEnv, shutdownSeconds } from "./env";
import type { N8nProps } from "./props";

/** uid/gid of user `node` in n8nio/n8n and of user `runner` in n8nio/runners. */
export const N8N_UID = 1000;

/** Seconds a pod keeps serving after it is marked terminating, while endpoints and ingress drop it. */
export const PRE_STOP_SECONDS = 5;

/** Margin after n8n's own graceful shutdown for process exit and the runner sidecar to stop. */
const SHUTDOWN_MARGIN_SECONDS = 15;

/** What differs between the three n8n processes, declared once. */
export const ROLES: Record<
  N8nRole,
  { name: string; component: ComponentName; args: (p: N8nProps) => string[]; spread: boolean }
> = {
  main: { name: NAMES.main, component: "main", args: () => ["start"], spread: false },
  worker: {
    name: NAMES.worker,
    component: "worker",
    args: (c) => ["worker", `--concurrency=${c.workers.concurrency}`],
    spread: true,
  },
  webhook: { name: NAMES.webhook, component: "webhook", args: () => ["webhook"], spread: true },
};

function workloadConfig(props: N8nProps, role: N8nRole) {
  return { main: props.main, worker: props.workers, webhook: props.webhooks }[role];
}

/** Autoscaling settings of a scaled role. */
function scaledConfig(props: N8nProps, role: ScaledRole) {
  return role === "worker" ? props.workers : props.webhooks;
}

/** The preStop pause, n8n's own shutdown of the role, and a margin (the kubelet SIGKILLs after it). */
export function terminationGracePeriodSeconds(props: N8nProps, role: N8nRole): number {
  return PRE_STOP_SECONDS + shutdownSeconds(props, role) + SHUTDOWN_MARGIN_SECONDS;
}

/**
 * The task-runner launcher as a native sidecar (an init container that keeps running): it starts
 * before n8n and stops after it, so executions that are finishing can still reach their runner.
 */
export function runnerSidecar(props: N8nProps) {
  return {
    name: "task-runners",
    image: `${props.n8n.runnersImage}:${props.n8n.version}`,
    imagePullPolicy: "IfNotPresent",
    restartPolicy: "Always",
    env: [...runnerEnv(props), ...extraEnvOf(props.runners)],
    ...envFromOf(props.runners),
    ports: [{ name: "runner-health", containerPort: PORTS.runnerHealth }],
    livenessProbe: httpGetProbe("/healthz", "runner-health", 15, 4),
    resources: resourceRequirements(props.runners.resources),
    securityContext: restrictedContainerSecurityContext(),
    volumeMounts: [...runnerScratch().map((v) => v.mount), ...props.runners.extraVolumeMounts],
  } satisfies k8s.types.input.core.v1.Container;
}

/** What a container section of the config adds by hand (the escape hatches; same in every role's section). */
type ContainerEscapeHatches = Pick<N8nProps["runners"], "extraEnv" | "envFrom">;

/** extraEnv as Kubernetes env vars, after the program's own. */
function extraEnvOf(c: ContainerEscapeHatches) {
  return c.extraEnv.map((e) =>
    e.value !== undefined
      ? { name: e.name, value: e.value }
      : e.secretKeyRef
        ? envFromSecretKey(e.name, e.secretKeyRef)
        : { name: e.name, valueFrom: { configMapKeyRef: { ...(e.configMapKeyRef as { name: string; key: string }) } } },
  );
}

/** envFrom, only when there is any (an empty list would still change the pod template). */
function envFromOf(c: ContainerEscapeHatches) {
  if (c.envFrom.length === 0) return {};
  return {
    envFrom: c.envFrom.map((f) =>
      f.secretRef ? { secretRef: { name: f.secretRef } } : { configMapRef: { name: f.configMapRef as string } },
    ),
  };
}

/** Names of the volumes the program gives every n8n pod (extraVolumes may not reuse them). */
export const PROGRAM_VOLUMES: string[] = [...n8nScratch(), ...runnerScratch()]
  .map((v) => v.volume.name)
  .concat(["postgres-ca", "redis-ca", WEB_IDENTITY_TOKEN.volume]);

/**
 * The projected web identity token, for n8n's object storage on AWS with IRSA: mounted into the
 * n8n container only, never into the task runner, which runs the workflows' code.
 */
function objectStorageToken(props: N8nProps) {
  const o = props.objectStorage;
  return o?.provider === "aws" && o.identity.kind === "irsa"
    ? [{ volume: webIdentityTokenVolume(), mount: webIdentityTokenMount() }]
    : [];
}

function runnerScratch() {
  return [scratchVolume("runner-tmp", "/tmp"), scratchVolume("runner-home", "/home/runner")];
}

/** The n8n container of a role. */
export function n8nContainer(props: N8nProps, role: N8nRole) {
  const volumes = n8nScratch();
  const w = workloadConfig(props, role);
  return {
    name: "n8n",
    image: `${props.n8n.image}:${props.n8n.version}`,
    imagePullPolicy: "IfNotPresent",
    args: ROLES[role].args(props),
    env: [...n8nEnv(props, role), ...extraEnvOf(w)],
    ...envFromOf(w),
    ports: [{ name: "http", containerPort: PORTS.n8n }],
    // The first start runs database migrations: allow five minutes before liveness applies.
    startupProbe: httpGetProbe("/healthz", "http", 5, 60),
    livenessProbe: httpGetProbe("/healthz", "http", 15, 4),
    readinessProbe: httpGetProbe("/healthz/readiness", "http", 10, 3),
    lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SECONDS } } },
    resources: resourceRequirements(w.resources),
    securityContext: restrictedContainerSecurityContext(),
    volumeMounts: [
      ...volumes.map((v) => v.mount),
      ...caVolumes(props).map((v) => v.mount),
      ...objectStorageToken(props).map((v) => v.mount),
      ...w.extraVolumeMounts,
    ],
  } satisfies k8s.types.input.core.v1.Container;
}

function n8nScratch() {
  return [
    scratchVolume("n8n-home", "/home/node/.n8n"),
    scratchVolume("n8n-cache", "/home/node/.cache"),
    scratchVolume("tmp", "/tmp"),
  ];
}

/** The pod template of a role. */
export function n8nPodTemplate(props: N8nProps, role: N8nRole) {
  const ctx = props.ctx;
  const { component, spread } = ROLES[role];
  const w = workloadConfig(props, role);
  const runner = props.runners.enabled ? runnerSidecar(props) : undefined;
  const volumes = [
    ...n8nScratch().map((v) => v.volume),
    ...(runner ? runnerScratch().map((v) => v.volume) : []),
    ...caVolumes(props).map((v) => v.volume),
    ...objectStorageToken(props).map((v) => v.volume),
    ...w.extraVolumes,
    ...(runner ? props.runners.extraVolumes : []),
  ];
  // A key kept outside the program is declared on the pods, so the policy pack can tell where it is from.
  const keySource =
    props.encryptionKeySource === "program"
      ? {}
      : { annotations: { [KEY_SOURCE_ANNOTATION]: props.encryptionKeySource } };
  return {
    metadata: { labels: labels(ctx, component), ...keySource },
    spec: {
      serviceAccountName: NAMES.serviceAccount,
      automountServiceAccountToken: false,
      // Service links would inject N8N_MAIN_PORT-style variables into n8n's own env namespace.
      enableServiceLinks: false,
      securityContext: restrictedPodSecurityContext(N8N_UID),
      terminationGracePeriodSeconds: terminationGracePeriodSeconds(props, role),
      ...(runner ? { initContainers: [runner] } : {}),
      containers: [n8nContainer(props, role)],
      volumes,
      ...(Object.keys(w.nodeSelector).length > 0 ? { nodeSelector: w.nodeSelector } : {}),
      ...(w.tolerations.length > 0 ? { tolerations: w.tolerations } : {}),
      ...(w.priorityClassName ? { priorityClassName: w.priorityClassName } : {}),
      ...(w.affinity ? { affinity: w.affinity } : {}),
      ...(spread
        ? {
            topologySpreadConstraints: ["kubernetes.io/hostname", "topology.kubernetes.io/zone"].map((topologyKey) => ({
              maxSkew: 1,
              topologyKey,
              whenUnsatisfiable: "ScheduleAnyway",
              labelSelector: { matchLabels: selectorLabels(ctx, component) },
            })),
          }
        : {}),
    },
  } satisfies k8s.types.input.core.v1.PodTemplateSpec;
}

function replicasOf(props: N8nProps, role: N8nRole): number {
  return role === "main" ? props.main.replicas : scaledConfig(props, role).minReplicas;
}

export function n8nDeployment(props: N8nProps, role: N8nRole) {
  const ctx = props.ctx;
  const { name, component } = ROLES[role];
  // One plain main must never overlap another (double-fired schedules): stop it, then start the new one.
  const strategy =
    role === "main" && !props.n8n.multiMain
      ? { type: "Recreate" }
      : { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: 0 } };
  return {
    metadata: { name, namespace: props.ctx.namespace, labels: labels(ctx, component) },
    spec: {
      replicas: replicasOf(props, role),
      revisionHistoryLimit: 5,
      selector: { matchLabels: selectorLabels(ctx, component) },
      strategy,
      template: n8nPodTemplate(props, role),
    },
  } satisfies k8s.apps.v1.DeploymentArgs;
}

export function n8nService(props: N8nProps, role: N8nRole) {
  const ctx = props.ctx;
  const { name, component } = ROLES[role];
  return {
    metadata: { name, namespace: props.ctx.namespace, labels: serviceLabels(labels(ctx, component), name) },
    spec: {
      type: "ClusterIP",
      selector: selectorLabels(ctx, component),
      ports: [{ name: "http", port: PORTS.n8n, targetPort: "http", protocol: "TCP" }],
    },
  } satisfies k8s.core.v1.ServiceArgs;
}

/** Voluntary disruptions (node drains) take one pod of a role at a time. */
export function n8nPdb(props: N8nProps, role: N8nRole) {
  const ctx = props.ctx;
  const { name, component } = ROLES[role];
  return {
    metadata: { name, namespace: props.ctx.namespace, labels: labels(ctx, component) },
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(ctx, component) } },
  } satisfies k8s.policy.v1.PodDisruptionBudgetArgs;
}

export type ScaledRole = Exclude<N8nRole, "main">;

/** The waiting-jobs metric main exports in queue mode. */
export const QUEUE_WAITING_METRIC = "n8n_scaling_mode_queue_jobs_waiting";

/**
 * Scale up fast (a queue burst), scale down slowly and one pod at a time, so workers that are busy
 * are not removed in bursts.
 */
export function hpaBehavior(props: N8nProps, role: ScaledRole) {
  const w = scaledConfig(props, role);
  return {
    scaleUp: {
      stabilizationWindowSeconds: 0,
      selectPolicy: "Max",
      policies: [
        { type: "Pods", value: 4, periodSeconds: 60 },
        { type: "Percent", value: 100, periodSeconds: 60 },
      ],
    },
    scaleDown: {
      stabilizationWindowSeconds: w.scaleDownStabilizationSeconds,
      selectPolicy: "Min",
      policies: [{ type: "Pods", value: 1, periodSeconds: 120 }],
    },
  };
}

export function n8nHpa(props: N8nProps, role: ScaledRole) {
  const ctx = props.ctx;
  const { name, component } = ROLES[role];
  const w = scaledConfig(props, role);
  const resource = (resourceName: "cpu" | "memory", averageUtilization: number) => ({
    type: "Resource",
    resource: { name: resourceName, target: { type: "Utilization", averageUtilization } },
  });
  const queueMetric =
    role === "worker" && props.workers.queueScaling === "external-metric"
      ? [
          {
            type: "External",
            external: {
              metric: { name: QUEUE_WAITING_METRIC, selector: { matchLabels: { service: NAMES.main } } },
              target: { type: "AverageValue", averageValue: String(props.workers.queueTargetPerWorker) },
            },
          },
        ]
      : [];
  return {
    metadata: { name, namespace: props.ctx.namespace, labels: labels(ctx, component) },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
      minReplicas: w.minReplicas,
      maxReplicas: w.maxReplicas,
      metrics: [
        resource("cpu", w.targetCPUUtilizationPercentage),
        resource("memory", w.targetMemoryUtilizationPercentage),
        ...queueMetric,
      ],
      behavior: hpaBehavior(props, role),
    },
  } satisfies k8s.autoscaling.v2.HorizontalPodAutoscalerArgs;
}

/** Bull keeps waiting jobs in the Redis list `<prefix>:jobs:wait`. */
export function waitingListKey(props: N8nProps): string {
  return `${props.n8n.queuePrefix}:jobs:wait`;
}

/** KEDA TriggerAuthentication: the Redis password from where n8n reads it. */
export function kedaTriggerAuthentication(props: N8nProps) {
  return {
    apiVersion: "keda.sh/v1alpha1",
    kind: "TriggerAuthentication",
    metadata: { name: `${NAMES.worker}-redis`, namespace: props.ctx.namespace, labels: labels(props.ctx, "worker") },
    spec: {
      secretTargetRef: [{ parameter: "password", ...props.secretRefs.redisPassword }],
    },
  };
}

/** KEDA ScaledObject for workers: queue length plus CPU and memory; KEDA owns the HPA it creates. */
export function kedaScaledObject(props: N8nProps) {
  const w = props.workers;
  return {
    apiVersion: "keda.sh/v1alpha1",
    kind: "ScaledObject",
    metadata: { name: NAMES.worker, namespace: props.ctx.namespace, labels: labels(props.ctx, "worker") },
    spec: {
      scaleTargetRef: { name: NAMES.worker },
      minReplicaCount: w.minReplicas,
      maxReplicaCount: w.maxReplicas,
      advanced: { horizontalPodAutoscalerConfig: { behavior: hpaBehavior(props, "worker") } },
      triggers: [
        {
          type: "redis",
          metadata: {
            address: `${NAMES.redis}.${props.namespaceName}.svc:${PORTS.redis}`,
            listName: waitingListKey(props),
            listLength: String(w.queueTargetPerWorker),
            databaseIndex: "0",
          },
          authenticationRef: { name: `${NAMES.worker}-redis` },
        },
        { type: "cpu", metricType: "Utilization", metadata: { value: String(w.targetCPUUtilizationPercentage) } },
        {
          type: "memory",
          metricType: "Utilization",
          metadata: { value: String(w.targetMemoryUtilizationPercentage) },
        },
      ],
    },
  };
}

/** The ServiceAccount every n8n pod runs as: no API token, no RBAC. */
export function n8nServiceAccount(props: N8nProps) {
  return {
    metadata: { name: NAMES.serviceAccount, namespace: props.ctx.namespace, labels: labels(props.ctx, "main") },
    automountServiceAccountToken: false,
  } satisfies k8s.core.v1.ServiceAccountArgs;
}
