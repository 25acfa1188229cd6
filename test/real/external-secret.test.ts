/**
 * The rendered ExternalSecret against the External Secrets Operator's own CRD (its consumer: the
 * API server validates and prunes with this schema before the operator ever sees the object). Read
 * from a git checkout of external-secrets/external-secrets (ESO_GIT_DIR, or the team's snapshot) at
 * the oldest release the README supports (v0.17.0: v1 served, v1beta1 no longer) and a recent one.
 */
import { describe, expect, it } from "vitest";
import { EXTERNAL_SECRET } from "../../components/kubernetes/names";
import { externalSecretObject } from "../../components/secrets";
import { parseStackConfig } from "../../config";
import { checkAgainstSchema, crdSchemaAt } from "../../support/crd-schema";
import { requireGitCheckout } from "../../support/mirror";

const CRD = "config/crds/bases/external-secrets.io_externalsecrets.yaml";
const TAGS = ["v0.17.0", "v2.9.0"];

const gitDir = () => requireGitCheckout("ESO_GIT_DIR", "external-secrets/external-secrets");

const config = parseStackConfig("eso", {
  domain: "n8n.example.com",
  secrets: {
    externalSecret: {
      storeName: "vault",
      storeKind: "SecretStore",
      refreshInterval: "15m",
      remoteRefs: {
        encryptionKey: { key: "n8n/prod", property: "encryption-key" },
        runnersAuthToken: { key: "n8n/prod", property: "runners" },
        postgresPassword: { key: "rds/n8n" },
        redisPassword: { key: "elasticache/n8n" },
        license: { key: "n8n/license" },
      },
    },
  },
});
const rendered = externalSecretObject(
  config.secrets.externalSecret as NonNullable<typeof config.secrets.externalSecret>,
  "n8n",
  { instance: "eso", version: "2.40.7" },
);

describe.each(TAGS)("ExternalSecret against the ESO CRD at %s", (tag) => {
  const schema = crdSchemaAt(gitDir(), tag, CRD, "v1");

  it("is accepted as written: no type, enum, pattern or required-field error, and nothing pruned", () => {
    const check = checkAgainstSchema(schema, rendered);
    expect(check.errors).toEqual([]);
    expect(rendered.spec.target.name).toBe(EXTERNAL_SECRET.name);
  });

  it("the checker catches what the API server would refuse or prune", () => {
    const broken = structuredClone(rendered) as unknown as { spec: Record<string, unknown> };
    (broken.spec.secretStoreRef as Record<string, string>).kind = "Vault";
    (broken.spec.target as Record<string, string>).deletionPolicy = "Keep";
    broken.spec.data = [{ secretKey: "bad key!", remoteRef: {} }];
    broken.spec.refreshEvery = "1h";
    const errors = checkAgainstSchema(schema, broken).errors.join("\n");
    expect(errors).toContain("spec.secretStoreRef.kind: must be one of SecretStore, ClusterSecretStore");
    expect(errors).toContain("spec.target.deletionPolicy: must be one of");
    expect(errors).toContain("spec.data[0].secretKey: must match");
    expect(errors).toContain("spec.data[0].remoteRef: key is required");
    expect(errors).toContain("spec.refreshEvery: not in the schema");
  });
});
