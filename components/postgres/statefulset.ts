import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import { memoryBytes, toMebibytes } from "../../config/quantity";
import {
  staticKeySecretBody,
  WALG_FILES,
  walgAwsConfig,
  walgJson,
  webIdentityTokenMount,
  webIdentityTokenVolume,
} from "../kubernetes/aws-identity";
import { ORPHAN_ON_DELETE } from "../kubernetes/data-store";
import { httpGetProbe, resourceRequirements, serviceLabels } from "../kubernetes/fragments";
import { labels, selectorLabels } from "../kubernetes/labels";
import { APP_DATABASE, AWS_KEYS_SECRET, DB_USERS, NAMES, PORTS, secretKeyRef } from "../kubernetes/names";
import {
  restrictedContainerSecurityContext,
  restrictedPodSecurityContext,
  volumeClaimTemplate,
} from "../kubernetes/pod-security";
import type { PostgresProps } from "./props";
import { type ArchiveTarget, LEADER_ROLE, REPLICA_ROLE, ROLE_LABEL, SCOPE_LABEL, spiloEnv } from "./spilo";
import { spiloTlsMount, spiloTlsVolume } from "./tls";

/** uid and gid of user postgres in the Spilo image. */
export const SPILO_UID = 101;
export const SPILO_GID = 103;

/** The pod labels every Spilo member carries; Patroni adds the role label itself. */
export function postgresPodLabels(props: PostgresProps) {
  return { ...selectorLabels(props.ctx, "postgres"), [SCOPE_LABEL]: NAMES.postgres };
}

/** Metadata of a PostgreSQL object: its name, namespace and the part's labels with the Patroni scope. */
export function meta(props: PostgresProps, name: string) {
  return {
    name,
    namespace: props.ctx.namespace,
    labels: { ...labels(props.ctx, "postgres"), [SCOPE_LABEL]: NAMES.postgres },
  };
}

/**
 * The Spilo container: restricted in everything Pod Security "restricted" checks. The root
 * filesystem stays writable: Spilo's launch script rewrites /etc/passwd for its uid and keeps
 * runit state under the image tree (postgres-operator runs it the same way).
 */
export function spiloSecurityContext() {
  return { ...restrictedContainerSecurityContext(), readOnlyRootFilesystem: false };
}

/**
 * A ServiceAccount. With IRSA it carries no `eks.amazonaws.com/role-arn` annotation on purpose: the
 * pods project their web identity token themselves, and the EKS webhook must not add AWS_ROLE_ARN
 * to the Spilo container (kubernetes/aws-identity.ts says why).
 */
export function serviceAccount(props: PostgresProps, name: string, automountToken: boolean) {
  return {
    metadata: meta(props, name),
    automountServiceAccountToken: automountToken,
  } satisfies k8s.core.v1.ServiceAccountArgs;
}

export function postgresServiceAccount(props: PostgresProps) {
  // Patroni talks to the Kubernetes API (its DCS): this pod needs its token.
  return serviceAccount(props, NAMES.postgresServiceAccount, true);
}

/** WAL-G's web identity files (IRSA only): `~/.walg.json` and the AWS shared config it names. */
export function walgAwsConfigMap(props: PostgresProps, awsConfig: Input<string>) {
  return {
    metadata: meta(props, NAMES.postgresWalg),
    data: { "walg.json": walgJson(), config: awsConfig },
  } satisfies k8s.core.v1.ConfigMapArgs;
}

/** The AWS shared config of WAL-G for a role (walgAwsConfig with this cluster's session name). */
export function walgAwsConfigFor(roleArn: string): string {
  return walgAwsConfig(roleArn, NAMES.postgres);
}

/** What Patroni's Kubernetes DCS needs in its own namespace, and nothing cluster-wide. */
export function postgresRole(props: PostgresProps) {
  return {
    metadata: meta(props, NAMES.postgresServiceAccount),
    rules: [
      {
        apiGroups: [""],
        resources: ["configmaps"],
        verbs: ["create", "get", "list", "patch", "update", "watch", "delete", "deletecollection"],
      },
      {
        apiGroups: [""],
        resources: ["endpoints"],
        verbs: ["create", "get", "list", "patch", "update", "watch", "delete", "deletecollection"],
      },
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "patch", "update", "watch"] },
      { apiGroups: [""], resources: ["services"], verbs: ["create"] },
    ],
  } satisfies k8s.rbac.v1.RoleArgs;
}

export function postgresRoleBinding(props: PostgresProps) {
  return {
    metadata: meta(props, NAMES.postgresServiceAccount),
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: NAMES.postgresServiceAccount },
    subjects: [{ kind: "ServiceAccount", name: NAMES.postgresServiceAccount, namespace: props.ctx.namespace }],
  } satisfies k8s.rbac.v1.RoleBindingArgs;
}

const pgPort = { name: "postgresql", port: PORTS.postgres, targetPort: "postgresql", protocol: "TCP" };
const patroniPort = { name: "patroni", port: PORTS.patroni, targetPort: "patroni", protocol: "TCP" };
const exporterPort = { name: "exporter", port: PORTS.postgresExporter, targetPort: "exporter", protocol: "TCP" };

function serviceMeta(props: PostgresProps, name: string) {
  const m = meta(props, name);
  return { ...m, labels: serviceLabels(m.labels, name) };
}

/** Primary (read-write), replicas (read-only) and the headless governing Service (also every member's metrics). */
export function postgresServices(props: PostgresProps) {
  const pods = postgresPodLabels(props);
  return {
    primary: {
      metadata: serviceMeta(props, NAMES.postgres),
      spec: { type: "ClusterIP", selector: { ...pods, [ROLE_LABEL]: LEADER_ROLE }, ports: [pgPort] },
    },
    replicas: {
      metadata: serviceMeta(props, NAMES.postgresReplicas),
      spec: { type: "ClusterIP", selector: { ...pods, [ROLE_LABEL]: REPLICA_ROLE }, ports: [pgPort] },
    },
    headless: {
      metadata: serviceMeta(props, NAMES.postgresHeadless),
      spec: {
        clusterIP: "None",
        // Members must find each other before they are ready (a new replica clones from the leader).
        publishNotReadyAddresses: true,
        selector: pods,
        ports: [pgPort, patroniPort, exporterPort],
      },
    },
  } satisfies Record<string, k8s.core.v1.ServiceArgs>;
}

/** Where the exporter finds its custom (outbox) queries. */
const EXPORTER_QUERIES = "/etc/postgres-exporter";

/**
 * postgres_exporter beside each member, over loopback as the pg_monitor role; with the outbox on,
 * also its custom queries. The image runs as nobody (65534).
 */
export function postgresExporterContainer(props: PostgresProps) {
  const outbox = props.postgres.outbox.enabled;
  return {
    name: "exporter",
    image: props.postgres.exporterImage,
    imagePullPolicy: "IfNotPresent",
    env: [
      { name: "DATA_SOURCE_URI", value: `127.0.0.1:${PORTS.postgres}/${APP_DATABASE}?sslmode=disable` },
      { name: "DATA_SOURCE_USER", value: DB_USERS.monitoring },
      { name: "DATA_SOURCE_PASS", valueFrom: secretKeyRef("postgres", "monitoringPassword") },
      ...(outbox
        ? [{ name: "PG_EXPORTER_EXTEND_QUERY_PATH", value: `${EXPORTER_QUERIES}/exporter-queries.yaml` }]
        : []),
    ],
    ports: [{ name: "exporter", containerPort: PORTS.postgresExporter }],
    livenessProbe: httpGetProbe("/", "exporter", 30),
    readinessProbe: httpGetProbe("/", "exporter", 15),
    resources: { requests: { cpu: "20m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
    securityContext: { ...restrictedContainerSecurityContext(), runAsUser: 65534, runAsGroup: 65534 },
    volumeMounts: outbox ? [{ name: "exporter-queries", mountPath: EXPORTER_QUERIES, readOnly: true }] : [],
  } satisfies k8s.types.input.core.v1.Container;
}

/** The Spilo container: Patroni and PostgreSQL, probed through Patroni's REST API. */
export function spiloContainer<S extends Input<string>>(props: PostgresProps, target: ArchiveTarget<S> | undefined) {
  const p = props.postgres;
  return {
    name: "postgres",
    image: p.image,
    imagePullPolicy: "IfNotPresent",
    env: spiloEnv(props, target),
    ports: [
      { name: "postgresql", containerPort: PORTS.postgres },
      { name: "patroni", containerPort: PORTS.patroni },
    ],
    // Bootstrapping or cloning from the archive can take long: an hour before liveness applies.
    startupProbe: httpGetProbe("/liveness", "patroni", 10, 360, null),
    livenessProbe: httpGetProbe("/liveness", "patroni", 10, 6),
    readinessProbe: httpGetProbe("/readiness", "patroni", 5, 3),
    resources: resourceRequirements(p.resources),
    securityContext: spiloSecurityContext(),
    volumeMounts: [
      { name: "pgdata", mountPath: "/home/postgres/pgdata" },
      { name: "dshm", mountPath: "/dev/shm" },
      ...spiloTlsMount(props),
      ...(target?.roleArn ? walgIdentityMounts() : []),
    ],
  } satisfies k8s.types.input.core.v1.Container;
}

const WALG_VOLUME = "walg-aws";

function walgIdentityMounts() {
  return [
    webIdentityTokenMount(),
    { name: WALG_VOLUME, mountPath: WALG_FILES.walgJson, subPath: "walg.json", readOnly: true },
    { name: WALG_VOLUME, mountPath: WALG_FILES.awsConfigDir, readOnly: true },
  ];
}

function walgIdentityVolumes() {
  return [
    webIdentityTokenVolume(),
    {
      name: WALG_VOLUME,
      configMap: {
        name: NAMES.postgresWalg,
        items: [
          { key: "walg.json", path: "walg.json" },
          { key: "config", path: "config" },
        ],
      },
    },
  ];
}

/** /dev/shm for parallel query workers: a quarter of the memory limit, at least 256 Mi. */
export function shmSize(props: PostgresProps): string {
  return `${Math.max(256, Math.floor(toMebibytes(memoryBytes(props.postgres.resources.limits.memory)) / 4))}Mi`;
}

export function postgresStatefulSet<S extends Input<string>>(
  props: PostgresProps,
  target: ArchiveTarget<S> | undefined,
) {
  const p = props.postgres;
  const pods = postgresPodLabels(props);
  const onePerNode = { labelSelector: { matchLabels: pods }, topologyKey: "kubernetes.io/hostname" };
  // Production refuses two members on one node; elsewhere it is only preferred, so a one-node
  // staging cluster still schedules.
  const affinity = props.production
    ? { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [onePerNode] } }
    : {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: onePerNode }],
        },
      };
  return {
    metadata: { ...meta(props, NAMES.postgres), annotations: { ...ORPHAN_ON_DELETE } },
    spec: {
      serviceName: NAMES.postgresHeadless,
      replicas: p.instances,
      // Patroni elects the leader; members need not start one by one.
      podManagementPolicy: "Parallel",
      updateStrategy: { type: "RollingUpdate" },
      selector: { matchLabels: pods },
      template: {
        metadata: { labels: { ...labels(props.ctx, "postgres"), [SCOPE_LABEL]: NAMES.postgres } },
        spec: {
          serviceAccountName: NAMES.postgresServiceAccount,
          securityContext: restrictedPodSecurityContext(SPILO_UID, SPILO_GID),
          // Patroni demotes cleanly and hands over leadership on SIGTERM; give PostgreSQL time to stop.
          terminationGracePeriodSeconds: 120,
          enableServiceLinks: false,
          affinity,
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: "topology.kubernetes.io/zone",
              whenUnsatisfiable: "ScheduleAnyway",
              labelSelector: { matchLabels: pods },
            },
          ],
          containers: [spiloContainer(props, target), postgresExporterContainer(props)],
          volumes: [
            { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: shmSize(props) } },
            ...spiloTlsVolume(props),
            ...(target?.roleArn ? walgIdentityVolumes() : []),
            ...(p.outbox.enabled
              ? [
                  {
                    name: "exporter-queries",
                    configMap: {
                      name: NAMES.postgresBootstrap,
                      items: [{ key: "exporter-queries.yaml", path: "exporter-queries.yaml" }],
                    },
                  },
                ]
              : []),
          ],
        },
      },
      volumeClaimTemplates: [volumeClaimTemplate("pgdata", pods, p.storageSize, p.storageClass)],
    },
  } satisfies k8s.apps.v1.StatefulSetArgs;
}

/** At most one member down by choice; with one instance the drain must wait for nobody. */
export function postgresPdb(props: PostgresProps) {
  return {
    metadata: meta(props, NAMES.postgres),
    spec: { maxUnavailable: 1, selector: { matchLabels: postgresPodLabels(props) } },
  } satisfies k8s.policy.v1.PodDisruptionBudgetArgs;
}

/** Static AWS keys for WAL-G and the dump job (credentials "static" only). */
export function awsKeysSecret<S extends Input<string>>(props: PostgresProps, accessKeyId: S, secretAccessKey: S) {
  return {
    metadata: meta(props, AWS_KEYS_SECRET.name),
    ...staticKeySecretBody(accessKeyId, secretAccessKey),
  } satisfies k8s.core.v1.SecretArgs;
}
