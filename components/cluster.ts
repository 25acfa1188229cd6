/**
 * N8nCluster: the one top-level component. It composes the parts that exist; each part is its own
 * component with its own pure builders.
 */

import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { childrenOf } from "./children";
import { EDGE_COMPONENTS, edgeProps, issuerAlias } from "./edge";
import { N8nGateway } from "./gateway";
import { N8nIngress } from "./ingress";
import { partContext } from "./kubernetes/context";
import { monitoringProps, N8nMonitoring } from "./monitoring";
import { N8nMain, N8nWebhooks, N8nWorkers, n8nProps } from "./n8n";
import { N8nObjectStorage } from "./n8n/storage";
import { n8nServiceAccount } from "./n8n/workload";
import { N8nNetworkPolicies, networkProps } from "./network";
import { N8nPostgres, postgresProps } from "./postgres";
import { N8nRedis, redisProps } from "./redis";
import { N8nSecrets } from "./secrets";

export interface N8nClusterArgs {
  config: StackConfig;
  /** The namespace the cluster lives in (created by the caller). */
  namespace: pulumi.Input<string>;
  /** n8n encryption key from a stack secret; generated when absent. */
  encryptionKey?: pulumi.Output<string>;
}

export class N8nCluster extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly secretNames: N8nSecrets["secretNames"];
  readonly encryptionKey?: pulumi.Output<string>;
  /** The n8n instance owner's password (owner@<domain> unless n8n.owner.email says otherwise). */
  readonly ownerPassword: pulumi.Output<string>;
  readonly walBucket?: pulumi.Output<string>;
  readonly dumpBucket?: pulumi.Output<string>;
  /** The bucket of n8n's binary or execution data (n8n.objectStorage provider aws). */
  readonly dataBucket?: pulumi.Output<string>;

  constructor(name: string, args: N8nClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:index:N8nCluster", name, {}, opts);
    const { config } = args;
    // What this cluster is ordered after (e.g. a cert-manager release) comes before all of it.
    const child = childrenOf(this, opts);

    // Default deny first, then the allowed flows: no pod starts with an open network.
    const network = new N8nNetworkPolicies(`${name}-network`, networkProps(config, args.namespace), child());

    const secrets = new N8nSecrets(
      `${name}-secrets`,
      {
        namespace: args.namespace,
        labels: partContext(config, "n8n", args.namespace),
        encryptionKey: args.encryptionKey,
        protectEncryptionKey: config.production,
        sources: config.secrets.sources,
        externalGroups: [
          ...(config.connections.database.external ? (["postgres"] as const) : []),
          ...(config.connections.queue.external ? (["redis"] as const) : []),
        ],
        externalSecret: config.secrets.externalSecret,
      },
      child({ dependsOn: [network] }),
    );

    // With postgres.mode or redis.mode "external" the server is yours: nothing of it is made here.
    const { database, queue } = config.connections;
    const postgres = database.external
      ? undefined
      : new N8nPostgres(`${name}-postgres`, postgresProps(config, args.namespace), child({ dependsOn: [secrets] }));
    const redis = queue.external
      ? undefined
      : new N8nRedis(`${name}-redis`, redisProps(config, args.namespace), child({ dependsOn: [secrets] }));

    const n8n = n8nProps(config, args.namespace);
    // Binary or execution data in S3: the bucket and its IAM (AWS), or your bucket (nothing made).
    const storage =
      config.objectStorage?.provider === "aws"
        ? new N8nObjectStorage(`${name}-object-storage`, n8n, child({ dependsOn: [network] }))
        : undefined;
    // n8n pods read the Secrets through env references and need their database and queue: all come first.
    const n8nInputs = [
      secrets,
      ...(postgres ? [postgres.bootstrap] : []),
      ...(redis ? [redis] : []),
      ...(storage ? storage.podInputs : []),
    ];
    new k8s.core.v1.ServiceAccount(`${name}-serviceaccount`, n8nServiceAccount(n8n), child());
    // The upgrade order: the pre-upgrade dump succeeds, then main rolls (its start runs the
    // migrations, under n8n's advisory lock) and becomes ready, then workers and webhook processors
    // of the new release start, on the migrated schema.
    const guard = postgres?.preUpgradeDump;
    const main = new N8nMain(`${name}-main`, n8n, child({ dependsOn: [...n8nInputs, ...(guard ? [guard] : [])] }));
    const afterMain = child({ dependsOn: [...n8nInputs, main] });
    new N8nWorkers(`${name}-workers`, n8n, afterMain);
    if (config.webhooks.enabled) new N8nWebhooks(`${name}-webhooks`, n8n, afterMain);
    new N8nMonitoring(`${name}-monitoring`, monitoringProps(config, args.namespace), child());
    // The edge: Gateway API routes, Ingress objects, or both while DNS moves (edge.keepIngress).
    const edge = edgeProps(config, args.namespace);
    const { gateway, ingress } = config.edge;
    if (gateway) {
      new N8nGateway(
        `${name}-${EDGE_COMPONENTS.gateway.suffix}`,
        { ...edge, gateway, issuerAlias: issuerAlias(name, this, "ingress") },
        child(),
      );
    }
    if (ingress) {
      new N8nIngress(
        `${name}-${EDGE_COMPONENTS.ingress.suffix}`,
        { ...edge, ingress, issuerAlias: issuerAlias(name, this, "gateway") },
        child(),
      );
    }

    this.url = pulumi.output(`https://${config.domain}/`);
    this.secretNames = secrets.secretNames;
    this.encryptionKey = secrets.encryptionKey;
    this.ownerPassword = secrets.ownerPassword;
    this.walBucket = postgres?.walBucket;
    this.dumpBucket = postgres?.dumpBucket;
    this.dataBucket = storage?.bucket;
    this.registerOutputs({
      dataBucket: this.dataBucket,
      url: this.url,
      secretNames: this.secretNames,
      walBucket: this.walBucket,
      dumpBucket: this.dumpBucket,
    });
  }
}
