/**
 * AWS side of PostgreSQL backups: the WAL archive bucket, the Object Lock bucket for nightly dumps,
 * and the IAM that lets exactly this cluster's ServiceAccounts write there. Pure policy builders
 * first, then the component that registers them with @pulumi/aws.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { NAMES } from "../kubernetes/names";
import type { PostgresProps } from "./props";
import { DUMP_PREFIX, walPrefix } from "./spilo";

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: Record<string, unknown>[];
}

const doc = (...Statement: Record<string, unknown>[]): PolicyDocument => ({ Version: "2012-10-17", Statement });

/** Bucket policy: refuse every request that is not over TLS. */
export function tlsOnlyBucketPolicy(bucketArn: string): PolicyDocument {
  return doc({
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [bucketArn, `${bucketArn}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  });
}

function kmsStatement(kmsKeyArn: string | undefined) {
  return kmsKeyArn
    ? [{ Effect: "Allow", Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], Resource: kmsKeyArn }]
    : [];
}

/** WAL-G: read, write and delete (retention) under this cluster's WAL prefix only. */
export function walgPolicy(bucketArn: string, prefix: string, kmsKeyArn?: string): PolicyDocument {
  return doc(
    {
      Effect: "Allow",
      Action: ["s3:ListBucket"],
      Resource: bucketArn,
      Condition: { StringLike: { "s3:prefix": [`${prefix}/*`, prefix] } },
    },
    {
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
      Resource: `${bucketArn}/${prefix}/*`,
    },
    ...kmsStatement(kmsKeyArn),
  );
}

/** The dump job: write new objects under the dump prefix, nothing else (no read, no delete). */
export function dumpWriterPolicy(bucketArn: string, prefix: string, kmsKeyArn?: string): PolicyDocument {
  return doc(
    {
      Effect: "Allow",
      Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
      Resource: `${bucketArn}/${prefix}/*`,
    },
    ...kmsStatement(kmsKeyArn),
  );
}

/** IRSA trust: only this ServiceAccount, in this namespace, through the cluster's OIDC provider. */
export function irsaTrustPolicy(
  oidcProviderArn: string,
  issuer: string,
  namespace: string,
  serviceAccount: string,
): PolicyDocument {
  return doc({
    Effect: "Allow",
    Principal: { Federated: oidcProviderArn },
    Action: "sts:AssumeRoleWithWebIdentity",
    Condition: {
      StringEquals: {
        [`${issuer}:sub`]: `system:serviceaccount:${namespace}:${serviceAccount}`,
        [`${issuer}:aud`]: "sts.amazonaws.com",
      },
    },
  });
}

interface SecureBucketArgs {
  bucket?: string;
  bucketPrefix: string;
  kmsKeyArn?: string;
  /** Days noncurrent (overwritten or deleted) versions are kept. */
  noncurrentDays: number;
  /** Object Lock default retention; the bucket is created with Object Lock enabled. */
  objectLock?: { mode: "COMPLIANCE" | "GOVERNANCE"; days: number };
  /** Days current objects are kept (after any lock has run out). */
  expireDays?: number;
  tags: Record<string, string>;
}

/**
 * A private bucket: versioned, encrypted by default (SSE-S3, or SSE-KMS with a key), every public
 * access blocked, ACLs off (bucket owner enforced), TLS only, and a lifecycle for old versions.
 */
function secureBucket(name: string, args: SecureBucketArgs, parent: pulumi.Resource) {
  const opts = { parent };
  const bucket = new aws.s3.Bucket(
    name,
    {
      ...(args.bucket ? { bucket: args.bucket } : { bucketPrefix: args.bucketPrefix }),
      objectLockEnabled: args.objectLock !== undefined,
      forceDestroy: false,
      tags: args.tags,
    },
    // Backups outlive a mistaken `pulumi destroy`.
    { parent, retainOnDelete: true },
  );
  const bucketRef = { bucket: bucket.id };
  new aws.s3.BucketOwnershipControls(
    `${name}-ownership`,
    { ...bucketRef, rule: { objectOwnership: "BucketOwnerEnforced" } },
    opts,
  );
  new aws.s3.BucketPublicAccessBlock(
    `${name}-public-access`,
    {
      ...bucketRef,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    opts,
  );
  const versioning = new aws.s3.BucketVersioning(
    `${name}-versioning`,
    { ...bucketRef, versioningConfiguration: { status: "Enabled" } },
    opts,
  );
  new aws.s3.BucketServerSideEncryptionConfiguration(
    `${name}-encryption`,
    {
      ...bucketRef,
      rules: [
        {
          applyServerSideEncryptionByDefault: args.kmsKeyArn
            ? { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn }
            : { sseAlgorithm: "AES256" },
          bucketKeyEnabled: args.kmsKeyArn !== undefined,
        },
      ],
    },
    opts,
  );
  new aws.s3.BucketPolicy(
    `${name}-tls-only`,
    { ...bucketRef, policy: bucket.arn.apply((arn) => JSON.stringify(tlsOnlyBucketPolicy(arn))) },
    opts,
  );
  new aws.s3.BucketLifecycleConfiguration(
    `${name}-lifecycle`,
    {
      ...bucketRef,
      rules: [
        {
          id: "expire-old-versions",
          status: "Enabled",
          filter: { prefix: "" },
          noncurrentVersionExpiration: { noncurrentDays: args.noncurrentDays },
          abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          ...(args.expireDays ? { expiration: { days: args.expireDays } } : {}),
        },
      ],
    },
    { parent, dependsOn: [versioning] },
  );
  if (args.objectLock) {
    new aws.s3.BucketObjectLockConfiguration(
      `${name}-object-lock`,
      {
        ...bucketRef,
        objectLockEnabled: "Enabled",
        rule: { defaultRetention: { mode: args.objectLock.mode, days: args.objectLock.days } },
      },
      { parent, dependsOn: [versioning] },
    );
  }
  return bucket;
}

/** An identity that may act on the buckets: an IRSA role per ServiceAccount, or one static IAM user. */
export interface BackupIdentities {
  archiveRoleArn?: pulumi.Output<string>;
  dumpRoleArn?: pulumi.Output<string>;
  accessKeyId?: pulumi.Output<string>;
  secretAccessKey?: pulumi.Output<string>;
}

export class PostgresBackupStorage extends pulumi.ComponentResource {
  readonly walBucket: pulumi.Output<string>;
  readonly dumpBucket?: pulumi.Output<string>;
  readonly identities: BackupIdentities;

  constructor(name: string, props: PostgresProps, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:postgres:PostgresBackupStorage", name, {}, opts);
    const a = props.postgres.archive;
    const dump = props.postgres.backup.dump;
    const tags = { "n8n-cluster/stack": props.ctx.instance, "n8n-cluster/namespace": props.namespaceName };

    const wal = secureBucket(
      `${name}-wal`,
      {
        bucket: a.bucketName,
        bucketPrefix: `n8n-${props.ctx.instance}-wal-`,
        kmsKeyArn: a.kmsKeyArn,
        noncurrentDays: a.retentionDays,
        tags,
      },
      this,
    );
    const dumps = dump.enabled
      ? secureBucket(
          `${name}-dump`,
          {
            bucket: dump.bucketName,
            bucketPrefix: `n8n-${props.ctx.instance}-dump-`,
            kmsKeyArn: a.kmsKeyArn,
            noncurrentDays: 1,
            objectLock: { mode: dump.lockMode, days: dump.retentionDays },
            expireDays: dump.retentionDays + 1,
            tags,
          },
          this,
        )
      : undefined;

    const walPolicy = wal.arn.apply((arn) => JSON.stringify(walgPolicy(arn, walPrefix(), a.kmsKeyArn)));
    const dumpPolicy = dumps?.arn.apply((arn) => JSON.stringify(dumpWriterPolicy(arn, DUMP_PREFIX, a.kmsKeyArn)));

    const identity = a.identity;
    if (identity.kind === "irsa") {
      const role = (id: string, serviceAccount: string, policy: pulumi.Output<string>) => {
        const trust = JSON.stringify(
          irsaTrustPolicy(identity.oidcProviderArn, identity.oidcIssuer, props.namespaceName, serviceAccount),
        );
        const r = new aws.iam.Role(`${name}-${id}`, { assumeRolePolicy: trust, tags }, { parent: this });
        new aws.iam.RolePolicy(`${name}-${id}-policy`, { role: r.id, policy }, { parent: this });
        return r.arn;
      };
      this.identities = {
        archiveRoleArn: role("walg-role", NAMES.postgresServiceAccount, walPolicy),
        ...(dumpPolicy ? { dumpRoleArn: role("dump-role", NAMES.postgresDump, dumpPolicy) } : {}),
      };
    } else {
      const user = new aws.iam.User(`${name}-user`, { tags }, { parent: this });
      new aws.iam.UserPolicy(`${name}-walg-policy`, { user: user.name, policy: walPolicy }, { parent: this });
      if (dumpPolicy)
        new aws.iam.UserPolicy(`${name}-dump-policy`, { user: user.name, policy: dumpPolicy }, { parent: this });
      const key = new aws.iam.AccessKey(`${name}-key`, { user: user.name }, { parent: this });
      this.identities = { accessKeyId: key.id, secretAccessKey: pulumi.secret(key.secret) };
    }

    this.walBucket = wal.bucket;
    this.dumpBucket = dumps?.bucket;
    this.registerOutputs({ walBucket: this.walBucket, dumpBucket: this.dumpBucket });
  }
}
