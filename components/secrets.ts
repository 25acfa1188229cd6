/**
 * N8nSecrets: every credential of the cluster, generated with @pulumi/random (or taken from a stack
 * secret) and written into three Kubernetes Secrets. Other components only ever reference these
 * values through `secretKeyRef` (kubernetes/names.ts), never as literals.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { type LabelContext, labels } from "./kubernetes/labels";
import { KEY_SOURCE_ANNOTATION, SECRETS, type SecretGroup } from "./kubernetes/names";

/** One value kept in a Secret: where it lives and how long a generated one is. */
export interface SecretValueSpec {
  group: SecretGroup;
  /** Logical key in SECRETS[group].keys. */
  key: string;
  /** Length of a generated value: alphanumerics only, so no URL or shell quoting can break it. */
  length: number;
  /** Also keep the value's bcrypt hash, under this logical key of the same group. */
  bcryptHashAs?: string;
}

/** The whole inventory, declared once. 48 alphanumerics is about 285 bits. */
export const SECRET_VALUES: readonly SecretValueSpec[] = [
  { group: "n8n", key: "encryptionKey", length: 48 },
  { group: "n8n", key: "runnersAuthToken", length: 48 },
  // The owner logs in with the password; n8n only ever gets its bcrypt hash.
  { group: "n8n", key: "ownerPassword", length: 32, bcryptHashAs: "ownerPasswordHash" },
  { group: "postgres", key: "superuserPassword", length: 40 },
  { group: "postgres", key: "replicationPassword", length: 40 },
  { group: "postgres", key: "appPassword", length: 40 },
  { group: "postgres", key: "monitoringPassword", length: 40 },
  { group: "postgres", key: "patroniApiPassword", length: 40 },
  { group: "redis", key: "password", length: 40 },
];

/** Plain spec of one Secret object (pure; the values may be Outputs). */
export function secretObject<V extends pulumi.Input<string>>(
  group: SecretGroup,
  namespace: string | pulumi.Output<string>,
  ctx: LabelContext,
  values: Record<string, V>,
  annotations: Record<string, string> = {},
) {
  const def = SECRETS[group];
  const keys = def.keys as Record<string, string>;
  const stringData: Record<string, V> = {};
  for (const [logical, value] of Object.entries(values)) {
    const key = keys[logical];
    if (key === undefined) throw new Error(`secret group ${group} has no key ${logical}`);
    stringData[key] = value;
  }
  return {
    metadata: { name: def.name, namespace, labels: labels(ctx, "secrets"), annotations },
    type: "Opaque",
    stringData,
  } satisfies k8s.core.v1.SecretArgs;
}

export interface N8nSecretsArgs {
  namespace: pulumi.Input<string>;
  labels: LabelContext;
  /** The n8n encryption key from a stack secret; generated when absent. */
  encryptionKey?: pulumi.Output<string>;
  /** Protect the generated encryption key against deletion (production stacks): losing it loses every credential. */
  protectEncryptionKey: boolean;
}

export class N8nSecrets extends pulumi.ComponentResource {
  /** Secret name per group. */
  readonly secretNames: Record<SecretGroup, pulumi.Output<string>>;
  /** The encryption key (secret output), for an offline backup: `pulumi stack output encryptionKey --show-secrets`. */
  readonly encryptionKey: pulumi.Output<string>;
  /** The instance owner's password (secret output): `pulumi stack output ownerPassword --show-secrets`. */
  readonly ownerPassword: pulumi.Output<string>;

  constructor(name: string, args: N8nSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:secrets:N8nSecrets", name, {}, opts);

    const values: Record<SecretGroup, Record<string, pulumi.Output<string>>> = { n8n: {}, postgres: {}, redis: {} };
    for (const spec of SECRET_VALUES) {
      const configured = spec.key === "encryptionKey" ? args.encryptionKey : undefined;
      const generated = configured
        ? undefined
        : new random.RandomPassword(
            `${name}-${spec.group}-${spec.key}`,
            { length: spec.length, special: false, minLower: 4, minUpper: 4, minNumeric: 4 },
            { parent: this, protect: spec.key === "encryptionKey" && args.protectEncryptionKey },
          );
      values[spec.group][spec.key] = pulumi.secret(configured ?? (generated as random.RandomPassword).result);
      if (spec.bcryptHashAs && generated) values[spec.group][spec.bcryptHashAs] = pulumi.secret(generated.bcryptHash);
    }

    const namespace = pulumi.output(args.namespace);
    const groups = Object.keys(SECRETS) as SecretGroup[];
    const secrets = Object.fromEntries(
      groups.map((group) => [
        group,
        new k8s.core.v1.Secret(
          `${name}-${group}`,
          secretObject(
            group,
            namespace,
            args.labels,
            values[group],
            group === "n8n" ? { [KEY_SOURCE_ANNOTATION]: args.encryptionKey ? "stack-secret" : "generated" } : {},
          ),
          { parent: this },
        ),
      ]),
    ) as Record<SecretGroup, k8s.core.v1.Secret>;

    this.secretNames = Object.fromEntries(groups.map((group) => [group, secrets[group].metadata.name])) as Record<
      SecretGroup,
      pulumi.Output<string>
    >;
    this.encryptionKey = values.n8n.encryptionKey as pulumi.Output<string>;
    this.ownerPassword = values.n8n.ownerPassword as pulumi.Output<string>;
    this.registerOutputs({
      secretNames: this.secretNames,
      encryptionKey: this.encryptionKey,
      ownerPassword: this.ownerPassword,
    });
  }
}
