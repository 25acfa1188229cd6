/**
 * N8nPostgres: the Patroni (Spilo) cluster n8n stores everything in, with its backup storage.
 * Registers what the builders in statefulset.ts, jobs.ts and aws.ts return.
 */

import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childrenOf } from "../children";
import { dataStoreOptions } from "../kubernetes/data-store";
import { PostgresBackupStorage } from "./aws";
import {
  bootstrapConfigMap,
  bootstrapJob,
  dumpCronJob,
  dumpServiceAccount,
  JOB_DEADLINE_SECONDS,
  outboxReaperCronJob,
  patroniConfigJob,
  patroniConfigMap,
  preUpgradeDumpJob,
} from "./jobs";
import type { PostgresProps } from "./props";
import {
  awsKeysSecret,
  postgresPdb,
  postgresRole,
  postgresRoleBinding,
  postgresServiceAccount,
  postgresServices,
  postgresStatefulSet,
  walgAwsConfigFor,
  walgAwsConfigMap,
} from "./statefulset";
import { certificateObjects, certManagerSigns } from "./tls";

export class N8nPostgres extends pulumi.ComponentResource {
  readonly primaryService: pulumi.Output<string>;
  readonly walBucket?: pulumi.Output<string>;
  readonly dumpBucket?: pulumi.Output<string>;
  /** Completes once the app role and database exist: n8n should start after it. */
  readonly bootstrap: k8s.batch.v1.Job;
  /** The dump taken before this n8n release first starts (with the nightly dump enabled). */
  readonly preUpgradeDump?: k8s.batch.v1.Job;

  constructor(name: string, props: PostgresProps, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:postgres:N8nPostgres", name, {}, opts);
    const child = childrenOf(this, opts);

    const storage = props.postgres.archive.enabled
      ? new PostgresBackupStorage(`${name}-backups`, props, child())
      : undefined;
    const ids = storage?.identities;
    const keys =
      ids?.accessKeyId && ids.secretAccessKey
        ? new k8s.core.v1.Secret(
            `${name}-aws-keys`,
            awsKeysSecret(props, ids.accessKeyId, ids.secretAccessKey),
            child(),
          )
        : undefined;
    const target = storage ? { bucket: storage.walBucket, roleArn: ids?.archiveRoleArn } : undefined;

    const sa = new k8s.core.v1.ServiceAccount(`${name}-serviceaccount`, postgresServiceAccount(props), child());
    const walgFiles = ids?.archiveRoleArn
      ? new k8s.core.v1.ConfigMap(
          `${name}-walg-aws`,
          walgAwsConfigMap(props, ids.archiveRoleArn.apply(walgAwsConfigFor)),
          child(),
        )
      : undefined;
    const role = new k8s.rbac.v1.Role(`${name}-role`, postgresRole(props), child());
    const binding = new k8s.rbac.v1.RoleBinding(
      `${name}-rolebinding`,
      postgresRoleBinding(props),
      child({
        dependsOn: [role],
      }),
    );
    const services = postgresServices(props);
    const primary = new k8s.core.v1.Service(`${name}-primary`, services.primary, child());
    new k8s.core.v1.Service(`${name}-replicas`, services.replicas, child());
    const headless = new k8s.core.v1.Service(`${name}-headless`, services.headless, child());
    const patroniFiles = new k8s.core.v1.ConfigMap(`${name}-patroni`, patroniConfigMap(props), child());
    // The namespace CA and the server certificate: cert-manager writes the Secret the pods mount
    // (a pod whose Secret is not there yet waits in ContainerCreating).
    const certificates = certManagerSigns(props)
      ? certificateObjects(props).map(
          (o) => new k8s.apiextensions.CustomResource(`${name}-${o.kind.toLowerCase()}-${o.metadata.name}`, o, child()),
        )
      : [];
    const statefulSet = new k8s.apps.v1.StatefulSet(
      `${name}-statefulset`,
      postgresStatefulSet(props, target),
      child({
        ...dataStoreOptions(props.postgres.allowReplace),
        dependsOn: [
          sa,
          binding,
          headless,
          patroniFiles,
          ...certificates,
          ...(keys ? [keys] : []),
          ...(walgFiles ? [walgFiles] : []),
        ],
      }),
    );
    new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, postgresPdb(props), child());

    // The Job's name is fixed, so a changed Job must be deleted before its replacement is created.
    new k8s.batch.v1.Job(
      `${name}-patroni-config`,
      patroniConfigJob(props),
      child({
        dependsOn: [statefulSet, patroniFiles],
        deleteBeforeReplace: true,
      }),
    );

    const files = new k8s.core.v1.ConfigMap(`${name}-bootstrap-files`, bootstrapConfigMap(props), child());
    // The Job's name is fixed, so a changed Job must be deleted before its replacement is created.
    this.bootstrap = new k8s.batch.v1.Job(
      `${name}-bootstrap`,
      bootstrapJob(props),
      child({
        dependsOn: [statefulSet, files, primary],
        deleteBeforeReplace: true,
      }),
    );

    if (storage?.dumpBucket) {
      const dumpSa = new k8s.core.v1.ServiceAccount(`${name}-dump-serviceaccount`, dumpServiceAccount(props), child());
      const target = { bucket: storage.dumpBucket, roleArn: ids?.dumpRoleArn };
      new k8s.batch.v1.CronJob(
        `${name}-dump`,
        dumpCronJob(props, target),
        child({
          dependsOn: [dumpSa, files, ...(keys ? [keys] : [])],
        }),
      );
      // The upgrade guard: n8n main depends on it (components/cluster.ts). Pulumi waits for a Job
      // to succeed; a dump of a large database takes longer than Pulumi's default of 10 minutes.
      this.preUpgradeDump = new k8s.batch.v1.Job(
        `${name}-pre-upgrade-dump`,
        preUpgradeDumpJob(props, target, props.n8nVersion),
        child({
          dependsOn: [dumpSa, files, this.bootstrap, ...(keys ? [keys] : [])],
          customTimeouts: { create: `${JOB_DEADLINE_SECONDS}s`, update: `${JOB_DEADLINE_SECONDS}s` },
        }),
      );
    }
    if (props.postgres.outbox.enabled) {
      new k8s.batch.v1.CronJob(
        `${name}-outbox-reaper`,
        outboxReaperCronJob(props),
        child({
          dependsOn: [this.bootstrap],
        }),
      );
    }

    this.primaryService = primary.metadata.name;
    this.walBucket = storage?.walBucket;
    this.dumpBucket = storage?.dumpBucket;
    this.registerOutputs({
      primaryService: this.primaryService,
      walBucket: this.walBucket,
      dumpBucket: this.dumpBucket,
    });
  }
}

export { type PostgresProps, postgresProps } from "./props";
