/**
 * Entry point for `pulumi up` / `pulumi preview`, and for the offline render (scripts/render.ts),
 * which runs this same file under the Pulumi mock runtime.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { N8nCluster } from "./components/cluster";
import { partContext } from "./components/kubernetes/context";
import { namespaceObject } from "./components/kubernetes/namespace";
import { awsProviderArgs, providerArgs } from "./components/kubernetes/provider";
import { ConfigError } from "./config";
import { type LoadedStack, loadStackConfig } from "./config/pulumi";

function load(): LoadedStack {
  try {
    return loadStackConfig();
  } catch (err) {
    // A config mistake is the user's: print the message alone, no stack trace.
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

const { config, secrets } = load();

const provider = new k8s.Provider("k8s", providerArgs(config.kubernetes));
// The AWS counterpart: buckets and IAM land in the region the archive config names.
const awsProvider = new aws.Provider("aws", awsProviderArgs(config.postgres.archive.region));
const namespace = new k8s.core.v1.Namespace(
  "namespace",
  namespaceObject(config.namespace, partContext(config, "n8n", config.namespace)),
  { provider },
);

const cluster = new N8nCluster(
  "n8n",
  { config, namespace: namespace.metadata.name, encryptionKey: secrets.encryptionKey },
  { providers: [provider, awsProvider] },
);

export const url = cluster.url;
export const namespaceName = namespace.metadata.name;
export const secretNames = cluster.secretNames;
export const walArchiveBucket = cluster.walBucket;
export const dumpBucket = cluster.dumpBucket;
export const dataBucket = cluster.dataBucket;
/** Back this up offline: without it no stored credential can be decrypted. */
export const encryptionKey = cluster.encryptionKey;
/** The n8n owner's login (n8n.owner.email): `pulumi stack output ownerPassword --show-secrets`. */
export const ownerPassword = cluster.ownerPassword;
