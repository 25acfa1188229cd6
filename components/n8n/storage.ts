/**
 * n8n's object storage on AWS (n8n.binaryData or n8n.executionData in s3 mode, provider "aws"): a
 * bucket and its IAM made with the backups' code (../aws/s3.ts), and what the n8n pods read of it.
 * The policy is derived from the S3 commands n8n's object store sends (N8N_S3_COMMANDS). With
 * provider "s3-compatible" the bucket is yours and nothing is made here.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { awsTags, bucketAccess, kmsStatement, type PolicyDocument, policyDocument, secureBucket } from "../aws/s3";
import { childrenOf } from "../children";
import { staticKeySecretBody } from "../kubernetes/aws-identity";
import { labels } from "../kubernetes/labels";
import { NAMES, OBJECT_STORAGE } from "../kubernetes/names";
import type { N8nProps } from "./props";

/**
 * Every S3 command of n8n 2.40.7's object store (@n8n/blob-storage, object-store.service.ee.js),
 * with the IAM action that allows it. The real suite reads the commands off the installed n8n, so
 * a release that sends a new one fails there until it is listed here.
 */
export const N8N_S3_COMMANDS = {
  HeadBucketCommand: "s3:ListBucket",
  ListObjectsV2Command: "s3:ListBucket",
  GetObjectCommand: "s3:GetObject",
  HeadObjectCommand: "s3:GetObject",
  PutObjectCommand: "s3:PutObject",
  DeleteObjectCommand: "s3:DeleteObject",
  DeleteObjectsCommand: "s3:DeleteObject",
} as const;

const actionsOn = (scope: "bucket" | "object") =>
  [...new Set(Object.values(N8N_S3_COMMANDS))].filter((a) => (a === "s3:ListBucket") === (scope === "bucket")).sort();

/** n8n's pods: list the bucket; read, write and delete its objects; nothing else. */
export function n8nObjectStorePolicy(bucketArn: string, kmsKeyArn?: string): PolicyDocument {
  return policyDocument(
    { Effect: "Allow", Action: actionsOn("bucket"), Resource: bucketArn },
    { Effect: "Allow", Action: actionsOn("object"), Resource: `${bucketArn}/*` },
    ...kmsStatement(kmsKeyArn),
  );
}

/** What exists only once AWS made it: the bucket's name and (irsa) the role the n8n pods assume. */
export function objectStorageConfigMap<S extends pulumi.Input<string>>(props: N8nProps, bucket: S, roleArn?: S) {
  const map = OBJECT_STORAGE.configMap;
  return {
    metadata: { name: map.name, namespace: props.ctx.namespace, labels: labels(props.ctx, "main") },
    data: { [map.keys.bucket]: bucket, ...(roleArn ? { [map.keys.roleArn]: roleArn } : {}) },
  };
}

/** The static key of the IAM user (credentials "static"). */
export function objectStorageKeysSecret<S extends pulumi.Input<string>>(
  props: N8nProps,
  accessKeyId: S,
  secretAccessKey: S,
) {
  return {
    metadata: {
      name: OBJECT_STORAGE.keysSecret.name,
      namespace: props.ctx.namespace,
      labels: labels(props.ctx, "main"),
    },
    ...staticKeySecretBody(accessKeyId, secretAccessKey),
  } satisfies k8s.core.v1.SecretArgs;
}

export class N8nObjectStorage extends pulumi.ComponentResource {
  readonly bucket: pulumi.Output<string>;
  /** The ConfigMap (and Secret) the n8n pods read: they start after these exist. */
  readonly podInputs: pulumi.Resource[];

  constructor(name: string, props: N8nProps, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:n8n:N8nObjectStorage", name, {}, opts);
    const child = childrenOf(this, opts);
    const o = props.objectStorage;
    if (o?.provider !== "aws") throw new Error("N8nObjectStorage makes the AWS bucket only (provider aws)");
    const tags = awsTags(props.ctx.instance, props.namespaceName);
    const bucket = secureBucket(
      `${name}-bucket`,
      {
        bucket: o.bucketName,
        bucketPrefix: `n8n-${props.ctx.instance}-data-`,
        kmsKeyArn: o.kmsKeyArn,
        noncurrentDays: o.noncurrentDays,
        // n8n deletes no binary data in S3 (its S3 store has no prefix delete): the lifecycle does.
        expireDays: o.expireDays,
        tags,
      },
      child,
    );
    const policy = bucket.arn.apply((arn) => JSON.stringify(n8nObjectStorePolicy(arn, o.kmsKeyArn)));
    const access = bucketAccess(name, child, o.identity, props.namespaceName, tags, [
      { id: "n8n", serviceAccount: NAMES.serviceAccount, policy },
    ]);
    const map = new k8s.core.v1.ConfigMap(
      `${name}-configmap`,
      objectStorageConfigMap(props, bucket.bucket, access.roleArns.n8n),
      child(),
    );
    const keys =
      access.accessKeyId && access.secretAccessKey
        ? new k8s.core.v1.Secret(
            `${name}-keys`,
            objectStorageKeysSecret(props, access.accessKeyId, access.secretAccessKey),
            child(),
          )
        : undefined;
    this.bucket = bucket.bucket;
    this.podInputs = [map, ...(keys ? [keys] : [])];
    this.registerOutputs({ bucket: this.bucket });
  }
}
