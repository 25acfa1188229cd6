/**
 * N8nSecrets: every credential of the cluster, generated with @pulumi/random (or taken from a stack
 * secret) and written into three Kubernetes Secrets. Other components only ever reference these
 * values through `secretKeyRef` (kubernetes/names.ts), never as literals.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { StackConfig } from "../config";
import { externalSecretKey, type SecretSource } from "../config/resolve";
import { childrenOf } from "./children";
import { type LabelContext, labels } from "./kubernetes/labels";
import {
  EXTERNAL_SECRET,
  EXTERNAL_VALUES,
  type ExternalValue,
  KEY_SOURCE_ANNOTATION,
  SECRETS,
  type SecretGroup,
} from "./kubernetes/names";

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
    // An empty map is dropped by the API server: sent, it would be a diff on every preview.
    metadata: {
      name: def.name,
      namespace,
      labels: labels(ctx, "secrets"),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    type: "Opaque",
    stringData,
  } satisfies k8s.core.v1.SecretArgs;
}

/** The program's values that a stack keeps elsewhere (secrets.existing, secrets.externalSecret). */
export function valuesKeptElsewhere(sources: Record<ExternalValue, SecretSource>): Set<string> {
  return new Set(
    (Object.keys(sources) as ExternalValue[])
      .filter((v) => sources[v] !== "program")
      .map((v) => `${EXTERNAL_VALUES[v].group}.${EXTERNAL_VALUES[v].key}`),
  );
}

/**
 * The External Secrets Operator's ExternalSecret (external-secrets.io/v1): it copies each named value
 * from the store into the Secret EXTERNAL_SECRET, under the value's name in kebab case (pure).
 * deletionPolicy Retain: a value deleted in the store stays in the cluster, so n8n keeps its key.
 */
export function externalSecretObject(
  es: NonNullable<StackConfig["secrets"]["externalSecret"]>,
  namespace: pulumi.Input<string>,
  ctx: LabelContext,
) {
  const data = Object.entries(es.remoteRefs)
    .filter((entry): entry is [string, { key: string; property?: string }] => entry[1] !== undefined)
    .map(([value, ref]) => ({
      secretKey: externalSecretKey(value),
      remoteRef: { key: ref.key, ...(ref.property ? { property: ref.property } : {}) },
    }));
  return {
    apiVersion: "external-secrets.io/v1",
    kind: "ExternalSecret",
    metadata: { name: EXTERNAL_SECRET.name, namespace, labels: labels(ctx, "secrets") },
    spec: {
      refreshInterval: es.refreshInterval,
      secretStoreRef: { name: es.storeName, kind: es.storeKind },
      target: { name: EXTERNAL_SECRET.name, creationPolicy: "Owner", deletionPolicy: "Retain" },
      data,
    },
  };
}

export interface N8nSecretsArgs {
  namespace: pulumi.Input<string>;
  labels: LabelContext;
  /** The n8n encryption key from a stack secret; generated when absent. */
  encryptionKey?: pulumi.Output<string>;
  /** Protect the generated encryption key against deletion (production stacks): losing it loses every credential. */
  protectEncryptionKey: boolean;
  /** Where the values n8n reads come from: the program generates only those marked "program". */
  sources: Record<ExternalValue, SecretSource>;
  /** Groups whose server is external: their in-cluster credentials (Spilo's, Redis's) are not made. */
  externalGroups: SecretGroup[];
  /** secrets.externalSecret: an ExternalSecret is made from it. */
  externalSecret?: StackConfig["secrets"]["externalSecret"];
}

export class N8nSecrets extends pulumi.ComponentResource {
  /** Secret name per group (a group whose values are all kept elsewhere has none). */
  readonly secretNames: Partial<Record<SecretGroup, pulumi.Output<string>>>;
  /**
   * The encryption key (secret output), for an offline backup: `pulumi stack output encryptionKey
   * --show-secrets`. Undefined when the key is kept outside the program.
   */
  readonly encryptionKey?: pulumi.Output<string>;
  /** The instance owner's password (secret output): `pulumi stack output ownerPassword --show-secrets`. */
  readonly ownerPassword: pulumi.Output<string>;

  constructor(name: string, args: N8nSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:secrets:N8nSecrets", name, {}, opts);
    const child = childrenOf(this, opts);

    const elsewhere = valuesKeptElsewhere(args.sources);
    const values: Record<SecretGroup, Record<string, pulumi.Output<string>>> = { n8n: {}, postgres: {}, redis: {} };
    const made = SECRET_VALUES.filter(
      (v) => !elsewhere.has(`${v.group}.${v.key}`) && !args.externalGroups.includes(v.group),
    );
    for (const spec of made) {
      const configured = spec.key === "encryptionKey" ? args.encryptionKey : undefined;
      const generated = configured
        ? undefined
        : new random.RandomPassword(
            `${name}-${spec.group}-${spec.key}`,
            { length: spec.length, special: false, minLower: 4, minUpper: 4, minNumeric: 4 },
            child({ protect: spec.key === "encryptionKey" && args.protectEncryptionKey }),
          );
      values[spec.group][spec.key] = pulumi.secret(configured ?? (generated as random.RandomPassword).result);
      if (spec.bcryptHashAs && generated) values[spec.group][spec.bcryptHashAs] = pulumi.secret(generated.bcryptHash);
    }

    const namespace = pulumi.output(args.namespace);
    // A group whose every value is kept elsewhere has no Secret of the program's.
    const groups = (Object.keys(SECRETS) as SecretGroup[]).filter((g) => Object.keys(values[g]).length > 0);
    const secrets: Partial<Record<SecretGroup, k8s.core.v1.Secret>> = Object.fromEntries(
      groups.map((group) => [
        group,
        new k8s.core.v1.Secret(
          `${name}-${group}`,
          secretObject(
            group,
            namespace,
            args.labels,
            values[group],
            group === "n8n" && values.n8n.encryptionKey
              ? { [KEY_SOURCE_ANNOTATION]: args.encryptionKey ? "stack-secret" : "generated" }
              : {},
          ),
          child(),
        ),
      ]),
    );

    if (args.externalSecret) {
      new k8s.apiextensions.CustomResource(
        `${name}-external`,
        externalSecretObject(args.externalSecret, namespace, args.labels),
        child(),
      );
    }

    this.secretNames = Object.fromEntries(
      groups.map((group) => [group, (secrets[group] as k8s.core.v1.Secret).metadata.name]),
    ) as N8nSecrets["secretNames"];
    this.encryptionKey = values.n8n.encryptionKey;
    this.ownerPassword = values.n8n.ownerPassword as pulumi.Output<string>;
    this.registerOutputs({
      secretNames: this.secretNames,
      encryptionKey: this.encryptionKey,
      ownerPassword: this.ownerPassword,
    });
  }
}
