/**
 * AWS side of PostgreSQL backups: the WAL archive bucket, the Object Lock bucket for nightly dumps,
 * and the IAM that lets exactly this cluster's ServiceAccounts write there. Pure policy builders
 * first, then the component that registers them (buckets and identities: ../aws/s3.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import {
  awsTags,
  bucketAccess,
  policyDocument as doc,
  kmsStatement,
  type PolicyDocument,
  secureBucket,
} from "../aws/s3";
import { childrenOf } from "../children";
import { NAMES } from "../kubernetes/names";
import type { PostgresProps } from "./props";
import { DUMP_PREFIX, walPrefix } from "./spilo";

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
    const child = childrenOf(this, opts);
    const a = props.postgres.archive;
    const dump = props.postgres.backup.dump;
    const tags = awsTags(props.ctx.instance, props.namespaceName);

    const wal = secureBucket(
      `${name}-wal`,
      {
        bucket: a.bucketName,
        bucketPrefix: `n8n-${props.ctx.instance}-wal-`,
        kmsKeyArn: a.kmsKeyArn,
        noncurrentDays: a.retentionDays,
        tags,
      },
      child,
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
          child,
        )
      : undefined;

    const walPolicy = wal.arn.apply((arn) => JSON.stringify(walgPolicy(arn, walPrefix(), a.kmsKeyArn)));
    const dumpPolicy = dumps?.arn.apply((arn) => JSON.stringify(dumpWriterPolicy(arn, DUMP_PREFIX, a.kmsKeyArn)));

    const access = bucketAccess(name, child, a.identity, props.namespaceName, tags, [
      { id: "walg", serviceAccount: NAMES.postgresServiceAccount, policy: walPolicy },
      ...(dumpPolicy ? [{ id: "dump", serviceAccount: NAMES.postgresDump, policy: dumpPolicy }] : []),
    ]);
    this.identities = {
      archiveRoleArn: access.roleArns.walg,
      dumpRoleArn: access.roleArns.dump,
      accessKeyId: access.accessKeyId,
      secretAccessKey: access.secretAccessKey,
    };

    this.walBucket = wal.bucket;
    this.dumpBucket = dumps?.bucket;
    this.registerOutputs({ walBucket: this.walBucket, dumpBucket: this.dumpBucket });
  }
}
