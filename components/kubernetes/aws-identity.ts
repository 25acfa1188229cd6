/**
 * How pods that write backups get AWS credentials: a web identity (IRSA) whose token the pod
 * projects itself, or static keys from a Secret. Plain data in, plain Kubernetes fragments out.
 *
 * Why the program projects the token instead of annotating the ServiceAccount for the EKS
 * pod-identity webhook:
 * - The webhook leaves a container alone when it already sets AWS_ROLE_ARN (or
 *   AWS_WEB_IDENTITY_TOKEN_FILE), AWS_REGION and AWS_STS_REGIONAL_ENDPOINTS: then it adds neither
 *   the token file variable nor the token volume (amazon-eks-pod-identity-webhook,
 *   pkg/handler/handler.go `addEnvToContainer`).
 * - When it does act, it puts AWS_ROLE_ARN into the container env. Spilo copies AWS_ROLE_ARN into
 *   WAL-G's envdir (configure_spilo.py `write_wale_environment`, 4.0-p3), and the WAL-G of the
 *   pinned image (v3.0.5, pkg/storages/s3/session.go `configureSession`) then calls
 *   sts:AssumeRole with an empty session name, which fails (fixed in WAL-G v3.0.6, PR 1906;
 *   no Spilo release ships it). Every WAL push would fail and pg_wal would fill the volume.
 * So the pod mounts the same token the webhook would (audience sts.amazonaws.com, same path), and:
 * - WAL-G reads the role from an AWS shared config file that `~/.walg.json` points it to, with
 *   AWS_SDK_LOAD_CONFIG (aws-sdk-go v1 reads `role_arn` from shared config only with it). WAL-G
 *   binds every key of `~/.walg.json` into its environment before it builds the S3 session
 *   (internal/config/config.go `bindConfigToEnv`), and never sees AWS_ROLE_ARN, so it assumes no role.
 * - boto3 (the dump job) takes the standard web identity variables.
 */
import type { Input } from "@pulumi/pulumi";
import { envFromSecretKey } from "./fragments";
import { AWS_KEY_PAIR_KEYS, AWS_KEYS_SECRET } from "./names";

/** The projected ServiceAccount token, where and how the EKS pod-identity webhook would mount it. */
export const WEB_IDENTITY_TOKEN = {
  volume: "aws-iam-token",
  directory: "/var/run/secrets/eks.amazonaws.com/serviceaccount",
  path: "token",
  /** The audience IRSA's trust policy checks (`<issuer>:aud`). */
  audience: "sts.amazonaws.com",
  /** The webhook's default lifetime; the kubelet refreshes the file at 80 % of it. */
  expirationSeconds: 86_400,
} as const;

export const WEB_IDENTITY_TOKEN_FILE = `${WEB_IDENTITY_TOKEN.directory}/${WEB_IDENTITY_TOKEN.path}`;

export function webIdentityTokenVolume() {
  return {
    name: WEB_IDENTITY_TOKEN.volume,
    projected: {
      sources: [
        {
          serviceAccountToken: {
            audience: WEB_IDENTITY_TOKEN.audience,
            expirationSeconds: WEB_IDENTITY_TOKEN.expirationSeconds,
            path: WEB_IDENTITY_TOKEN.path,
          },
        },
      ],
    },
  };
}

export function webIdentityTokenMount() {
  return { name: WEB_IDENTITY_TOKEN.volume, mountPath: WEB_IDENTITY_TOKEN.directory, readOnly: true };
}

/** The standard web identity variables, for AWS SDKs that read them (boto3 in the dump job). */
export function webIdentityEnv<S extends Input<string>>(roleArn: S, sessionName: string) {
  return [
    { name: "AWS_ROLE_ARN", value: roleArn },
    { name: "AWS_WEB_IDENTITY_TOKEN_FILE", value: WEB_IDENTITY_TOKEN_FILE },
    { name: "AWS_ROLE_SESSION_NAME", value: sessionName },
    { name: "AWS_STS_REGIONAL_ENDPOINTS", value: "regional" },
  ];
}

/** Static keys from the program's Secret (credentials "static"), optionally under a prefix (Spilo's CLONE_). */
export function staticKeyEnv(prefix = "") {
  const ref = (key: string) => ({ name: AWS_KEYS_SECRET.name, key });
  return [
    envFromSecretKey(`${prefix}AWS_ACCESS_KEY_ID`, ref(AWS_KEYS_SECRET.keys.accessKeyId)),
    envFromSecretKey(`${prefix}AWS_SECRET_ACCESS_KEY`, ref(AWS_KEYS_SECRET.keys.secretAccessKey)),
  ];
}

/** The body of a Secret holding an IAM user's static key (AWS_KEY_PAIR_KEYS), for a Secret of the caller's name. */
export function staticKeySecretBody<S extends Input<string>>(accessKeyId: S, secretAccessKey: S) {
  return {
    type: "Opaque",
    stringData: {
      [AWS_KEY_PAIR_KEYS.accessKeyId]: accessKeyId,
      [AWS_KEY_PAIR_KEYS.secretAccessKey]: secretAccessKey,
    },
  };
}

/** Where the Spilo container finds WAL-G's files. Spilo's user `postgres` has its home at /home/postgres. */
export const WALG_FILES = {
  walgJson: "/home/postgres/.walg.json",
  awsConfigDir: "/etc/walg-aws",
  awsConfig: "/etc/walg-aws/config",
} as const;

/** `~/.walg.json`: read by every WAL-G run of user postgres (archive_command, cron backups, restores, clones). */
export function walgJson(): string {
  return `${JSON.stringify({ AWS_SDK_LOAD_CONFIG: "true", AWS_CONFIG_FILE: WALG_FILES.awsConfig }, null, 2)}\n`;
}

/** The AWS shared config profile WAL-G's SDK resolves: web identity with this role and the projected token. */
export function walgAwsConfig(roleArn: string, sessionName: string): string {
  return [
    "[default]",
    `role_arn = ${roleArn}`,
    `web_identity_token_file = ${WEB_IDENTITY_TOKEN_FILE}`,
    `role_session_name = ${sessionName}`,
    "sts_regional_endpoints = regional",
    "",
  ].join("\n");
}
