/**
 * The AWS pieces every bucket of the program shares: a private, versioned, encrypted, TLS-only
 * bucket with a lifecycle, and the identities allowed to use it (an IRSA role per ServiceAccount,
 * or one IAM user with a static key). The PostgreSQL backups and n8n's object storage both build
 * on these. Pure policy builders first, then the two registering functions.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Child } from "../children";

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: Record<string, unknown>[];
}

export const policyDocument = (...Statement: Record<string, unknown>[]): PolicyDocument => ({
  Version: "2012-10-17",
  Statement,
});

/** The tags every AWS resource of a stack carries: which stack and namespace it belongs to. */
export function awsTags(instance: string, namespace: string): Record<string, string> {
  return { "n8n-cluster/stack": instance, "n8n-cluster/namespace": namespace };
}

/** Bucket policy: refuse every request that is not over TLS. */
export function tlsOnlyBucketPolicy(bucketArn: string): PolicyDocument {
  return policyDocument({
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [bucketArn, `${bucketArn}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  });
}

/** Use of the bucket's KMS key, when it has one (SSE-KMS). */
export function kmsStatement(kmsKeyArn: string | undefined) {
  return kmsKeyArn
    ? [{ Effect: "Allow", Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], Resource: kmsKeyArn }]
    : [];
}

/** IRSA trust: only this ServiceAccount, in this namespace, through the cluster's OIDC provider. */
export function irsaTrustPolicy(
  oidcProviderArn: string,
  issuer: string,
  namespace: string,
  serviceAccount: string,
): PolicyDocument {
  return policyDocument({
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

export interface SecureBucketArgs {
  bucket?: string;
  bucketPrefix: string;
  kmsKeyArn?: string;
  /** Days noncurrent (overwritten or deleted) versions are kept. */
  noncurrentDays: number;
  /** Object Lock default retention; the bucket is created with Object Lock enabled. */
  objectLock?: { mode: "COMPLIANCE" | "GOVERNANCE"; days: number };
  /**
   * Days current objects are kept (after any lock has run out). With Days, S3 also removes the
   * delete markers left behind once they are that old (an Expiration with Days may not also carry
   * ExpiredObjectDeleteMarker).
   */
  expireDays?: number;
  tags: Record<string, string>;
}

/** The lifecycle rules of a secure bucket: old versions, abandoned uploads, and current objects when they expire. */
export function bucketLifecycleRules(args: Pick<SecureBucketArgs, "noncurrentDays" | "expireDays">) {
  return [
    {
      id: "expire-old-versions",
      status: "Enabled",
      filter: { prefix: "" },
      noncurrentVersionExpiration: { noncurrentDays: args.noncurrentDays },
      abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
      ...(args.expireDays ? { expiration: { days: args.expireDays } } : {}),
    },
  ];
}

/**
 * A private bucket: versioned, encrypted by default (SSE-S3, or SSE-KMS with a key), every public
 * access blocked, ACLs off (bucket owner enforced), TLS only, and a lifecycle for old versions.
 */
export function secureBucket(name: string, args: SecureBucketArgs, child: Child) {
  const opts = child();
  const bucket = new aws.s3.Bucket(
    name,
    {
      ...(args.bucket ? { bucket: args.bucket } : { bucketPrefix: args.bucketPrefix }),
      objectLockEnabled: args.objectLock !== undefined,
      forceDestroy: false,
      tags: args.tags,
    },
    // Data outlives a mistaken `pulumi destroy`.
    child({ retainOnDelete: true }),
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
    { ...bucketRef, rules: bucketLifecycleRules(args) },
    child({ dependsOn: [versioning] }),
  );
  if (args.objectLock) {
    new aws.s3.BucketObjectLockConfiguration(
      `${name}-object-lock`,
      {
        ...bucketRef,
        objectLockEnabled: "Enabled",
        rule: { defaultRetention: { mode: args.objectLock.mode, days: args.objectLock.days } },
      },
      child({ dependsOn: [versioning] }),
    );
  }
  return bucket;
}

/**
 * How pods authenticate to AWS, as a discriminated union: with "irsa" the OIDC provider and issuer
 * are there by type. The config rules refuse "irsa" without them before any component sees it.
 */
export type AwsIdentity = { kind: "irsa"; oidcProviderArn: string; oidcIssuer: string } | { kind: "static" };

/** One use of the buckets: the ServiceAccount whose pods act, and the IAM policy they get. */
export interface BucketGrant {
  /** Short name, part of the IAM resource names (e.g. "walg" gives `<name>-walg-role`). */
  id: string;
  serviceAccount: string;
  policy: pulumi.Output<string>;
}

/** What the pods get: a role ARN per grant (irsa), or one static key pair for all of them. */
export interface BucketAccess {
  roleArns: Record<string, pulumi.Output<string>>;
  accessKeyId?: pulumi.Output<string>;
  secretAccessKey?: pulumi.Output<string>;
}

/**
 * The identities of the grants: with irsa one role per grant, trusted only by its ServiceAccount;
 * with static one IAM user holding every grant's policy, and its access key (a Pulumi secret).
 */
export function bucketAccess(
  name: string,
  child: Child,
  identity: AwsIdentity,
  namespace: string,
  tags: Record<string, string>,
  grants: BucketGrant[],
): BucketAccess {
  const opts = child();
  if (identity.kind === "irsa") {
    const roleArns = Object.fromEntries(
      grants.map((g) => {
        const trust = JSON.stringify(
          irsaTrustPolicy(identity.oidcProviderArn, identity.oidcIssuer, namespace, g.serviceAccount),
        );
        const role = new aws.iam.Role(`${name}-${g.id}-role`, { assumeRolePolicy: trust, tags }, opts);
        new aws.iam.RolePolicy(`${name}-${g.id}-role-policy`, { role: role.id, policy: g.policy }, opts);
        return [g.id, role.arn];
      }),
    );
    return { roleArns };
  }
  const user = new aws.iam.User(`${name}-user`, { tags }, opts);
  for (const g of grants) {
    new aws.iam.UserPolicy(`${name}-${g.id}-policy`, { user: user.name, policy: g.policy }, opts);
  }
  const key = new aws.iam.AccessKey(`${name}-key`, { user: user.name }, opts);
  return { roleArns: {}, accessKeyId: key.id, secretAccessKey: pulumi.secret(key.secret) };
}
