/**
 * N8nCluster: the one top-level component. It composes the parts that exist; each part is its own
 * component with its own pure builders.
 */
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import type { LabelContext } from "./labels";
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
  readonly encryptionKey: pulumi.Output<string>;

  constructor(name: string, args: N8nClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:index:N8nCluster", name, {}, opts);
    const { config } = args;
    const ctx: LabelContext = { instance: config.stack, version: config.n8n.version };

    const secrets = new N8nSecrets(
      `${name}-secrets`,
      {
        namespace: args.namespace,
        labels: ctx,
        encryptionKey: args.encryptionKey,
        protectEncryptionKey: config.production,
      },
      { parent: this },
    );

    this.url = pulumi.output(`https://${config.domain}/`);
    this.secretNames = secrets.secretNames;
    this.encryptionKey = secrets.encryptionKey;
    this.registerOutputs({ url: this.url, secretNames: this.secretNames });
  }
}
