/**
 * n8n's binary and execution data in S3 (issue 15, item 5): n8n.binaryData, n8n.executionData and
 * n8n.objectStorage. The bucket and IAM come from the backups' code; n8n gets its own env names; the
 * rules say what n8n 2.40.7 needs. test/real/object-storage.test.ts runs n8n's own object store
 * with the rendered env against s3rver (and a stand-in STS for IRSA).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { OBJECT_STORAGE } from "../components/kubernetes/names";
import { n8nEnv } from "../components/n8n/env";
import { n8nProps } from "../components/n8n/props";
import { N8N_S3_COMMANDS, n8nObjectStorePolicy } from "../components/n8n/storage";
import { networkFlows, networkProps } from "../components/network";
import { parseStackConfig } from "../config";
import { readsEnv } from "../config/env-names";
import { minimumExpireDays } from "../config/resolve";
import { configErrorText, findManifest, IRSA_ARCHIVE, podsOf, ROOT, runProgram } from "./harness";
import { evaluatePack } from "./policy-harness";

const LICENSED = { domain: "n8n.example.com", n8n: { license: { name: "n8n-license", key: "key" } } };
const withStorage = (n8n: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  ...LICENSED,
  ...extra,
  n8n: { ...LICENSED.n8n, ...n8n },
});
const AWS_STATIC = withStorage({ binaryData: { mode: "s3" } });
const AWS_IRSA = withStorage(
  { binaryData: { mode: "s3" }, executionData: { mode: "s3" } },
  {
    postgres: { archive: IRSA_ARCHIVE },
  },
);
const MINIO = {
  provider: "s3-compatible",
  bucketName: "n8n-data",
  host: "minio.storage.example.com:9000",
  accessKey: { name: "minio-n8n", key: "access-key" },
  secretKey: { name: "minio-n8n", key: "secret-key" },
  cidrs: ["10.30.0.0/16"],
};
const COMPATIBLE = withStorage({ binaryData: { mode: "s3" }, objectStorage: MINIO });

const envOf = (raw: Record<string, unknown>, role: "main" | "worker" | "webhook" = "worker") =>
  Object.fromEntries(
    n8nEnv(n8nProps(parseStackConfig("t", raw), "n8n"), role).map((e) => [
      e.name,
      "value" in e ? e.value : e.valueFrom,
    ]),
  );

describe("binary and execution data in n8n's env", () => {
  it("by default both stay in PostgreSQL and no object storage is configured", () => {
    const env = envOf({ domain: "n8n.example.com" });
    expect(env.N8N_DEFAULT_BINARY_DATA_MODE).toBe("database");
    expect(Object.keys(env).filter((n) => /EXTERNAL_STORAGE|EXECUTION_DATA_STORAGE|^AWS_/.test(n))).toEqual([]);
    expect(parseStackConfig("t", { domain: "n8n.example.com" }).objectStorage).toBeUndefined();
  });

  it("the database mode's file size limit is n8n's own name", () => {
    const env = envOf({ domain: "n8n.example.com", n8n: { binaryData: { databaseMaxFileSizeMiB: 64 } } });
    expect(env.N8N_BINARY_DATA_DATABASE_MAX_FILE_SIZE).toBe("64");
  });

  it("aws with a static key: the bucket from the ConfigMap, the key from the program's Secret, the SDK's endpoint", () => {
    for (const role of ["main", "worker", "webhook"] as const) {
      const env = envOf(AWS_STATIC, role);
      const { configMap, keysSecret } = OBJECT_STORAGE;
      expect(env).toMatchObject({
        N8N_DEFAULT_BINARY_DATA_MODE: "s3",
        N8N_EXTERNAL_STORAGE_S3_BUCKET_NAME: { configMapKeyRef: { name: configMap.name, key: configMap.keys.bucket } },
        N8N_EXTERNAL_STORAGE_S3_BUCKET_REGION: "us-east-1",
        N8N_EXTERNAL_STORAGE_S3_ACCESS_KEY: {
          secretKeyRef: { name: keysSecret.name, key: keysSecret.keys.accessKeyId },
        },
        N8N_EXTERNAL_STORAGE_S3_ACCESS_SECRET: {
          secretKeyRef: { name: keysSecret.name, key: keysSecret.keys.secretAccessKey },
        },
      });
      // No host: n8n then leaves the endpoint to the SDK (the bucket's regional, virtual-hosted one).
      expect(env.N8N_EXTERNAL_STORAGE_S3_HOST).toBeUndefined();
      expect(env.N8N_EXECUTION_DATA_STORAGE_MODE).toBeUndefined();
      for (const name of Object.keys(env)) expect(readsEnv("n8n", name), name).toBe(true);
    }
  });

  it("aws with irsa: the SDK's default chain finds the role and the projected token; no key anywhere", () => {
    const env = envOf(AWS_IRSA, "main");
    expect(env).toMatchObject({
      N8N_DEFAULT_BINARY_DATA_MODE: "s3",
      N8N_EXECUTION_DATA_STORAGE_MODE: "s3",
      N8N_EXTERNAL_STORAGE_S3_BUCKET_REGION: "eu-west-1",
      N8N_EXTERNAL_STORAGE_S3_AUTH_AUTO_DETECT: "true",
      AWS_ROLE_ARN: {
        configMapKeyRef: { name: OBJECT_STORAGE.configMap.name, key: OBJECT_STORAGE.configMap.keys.roleArn },
      },
      AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
      AWS_ROLE_SESSION_NAME: "n8n",
    });
    expect(env.N8N_EXTERNAL_STORAGE_S3_ACCESS_KEY).toBeUndefined();
    for (const name of Object.keys(env)) expect(readsEnv("n8n", name), name).toBe(true);
  });

  it("s3-compatible: n8n's host, protocol and path style, the keys from your Secret", () => {
    const env = envOf(COMPATIBLE);
    expect(env).toMatchObject({
      N8N_EXTERNAL_STORAGE_S3_HOST: "minio.storage.example.com:9000",
      N8N_EXTERNAL_STORAGE_S3_PROTOCOL: "https",
      N8N_EXTERNAL_STORAGE_S3_FORCE_PATH_STYLE: "true",
      N8N_EXTERNAL_STORAGE_S3_BUCKET_NAME: "n8n-data",
      N8N_EXTERNAL_STORAGE_S3_BUCKET_REGION: "auto",
      N8N_EXTERNAL_STORAGE_S3_ACCESS_KEY: { secretKeyRef: { name: "minio-n8n", key: "access-key" } },
      N8N_EXTERNAL_STORAGE_S3_ACCESS_SECRET: { secretKeyRef: { name: "minio-n8n", key: "secret-key" } },
    });
  });
});

describe("retaining the storage after switching back to database", () => {
  it("keeps n8n's S3 settings (and the bucket's IAM) so it reads what it wrote; no licence is needed to read", () => {
    const back = { domain: "n8n.example.com", n8n: { objectStorage: { retain: true } } };
    expect(configErrorText(back)).toBe("");
    const env = envOf(back, "main");
    expect(env.N8N_DEFAULT_BINARY_DATA_MODE).toBe("database");
    expect(env.N8N_EXECUTION_DATA_STORAGE_MODE).toBeUndefined();
    expect(env.N8N_EXTERNAL_STORAGE_S3_BUCKET_NAME).toEqual({
      configMapKeyRef: { name: OBJECT_STORAGE.configMap.name, key: OBJECT_STORAGE.configMap.keys.bucket },
    });
    expect(parseStackConfig("t", back).objectStorage?.provider).toBe("aws");
  });
});

describe("the AWS side, made with the backups' bucket and identity code", () => {
  it("aws static: a secure bucket whose lifecycle expires what n8n leaves, an IAM user with n8n's policy, the Secret and ConfigMap", async () => {
    const run = await runProgram("objstatic", AWS_STATIC);
    const ofType = (t: string) => run.resources.filter((r) => r.type === t && r.name.includes("object-storage"));
    expect(ofType("aws:s3/bucket:Bucket")).toHaveLength(1);
    expect(ofType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")).toHaveLength(1);
    expect(
      ofType("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"),
    ).toHaveLength(1);
    const [lifecycle] = ofType("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration");
    const rules = lifecycle?.inputs.rules as { expiration?: { days: number }; noncurrentVersionExpiration: unknown }[];
    // 336 h of executions plus the hard-delete hour, rounded up to days, and a day of margin.
    expect(rules[0]?.expiration).toEqual({ days: minimumExpireDays(336) });
    expect(minimumExpireDays(336)).toBe(16);
    expect(rules[0]?.noncurrentVersionExpiration).toEqual({ noncurrentDays: 7 });
    const [policy] = ofType("aws:iam/userPolicy:UserPolicy");
    const doc = JSON.parse(policy?.inputs.policy as string);
    const arn = doc.Statement[0].Resource as string;
    expect(doc).toEqual(n8nObjectStorePolicy(arn));
    expect(ofType("aws:iam/role:Role")).toEqual([]);
    const keys = findManifest(run, "Secret", OBJECT_STORAGE.keysSecret.name);
    expect(Object.keys(keys.stringData as object).sort()).toEqual(["access-key-id", "secret-access-key"]);
    const map = findManifest(run, "ConfigMap", OBJECT_STORAGE.configMap.name);
    expect(Object.keys(map.data as object)).toEqual(["bucket"]);
    // The backups keep their own user: two users, each with its own policies.
    expect(run.resources.filter((r) => r.type === "aws:iam/user:User")).toHaveLength(2);
    expect((await evaluatePack(run.resources)).filter((v) => v.level === "mandatory")).toEqual([]);
  });

  it("aws irsa: one role trusted by the n8n ServiceAccount only; the token goes to the n8n container, not the runner", async () => {
    const run = await runProgram("objirsa", AWS_IRSA);
    const roles = run.resources.filter((r) => r.type === "aws:iam/role:Role" && r.name.includes("object-storage"));
    expect(roles).toHaveLength(1);
    const trust = JSON.parse(roles[0]?.inputs.assumeRolePolicy as string);
    expect(trust.Statement[0].Condition.StringEquals).toEqual({
      "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:n8n:n8n",
      "oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
    });
    const map = findManifest(run, "ConfigMap", OBJECT_STORAGE.configMap.name);
    expect(Object.keys(map.data as object).sort()).toEqual(["bucket", "role-arn"]);
    const n8nPods = podsOf(run.manifests).filter((p) => p.spec.serviceAccountName === "n8n");
    expect(n8nPods.map((p) => p.owner.metadata.name).sort()).toEqual(["n8n-main", "n8n-worker"]);
    for (const p of n8nPods) {
      const token = p.spec.volumes?.find((v) => v.name === "aws-iam-token") as Record<string, unknown> | undefined;
      expect(token?.projected).toBeDefined();
      const n8n = p.spec.containers.find((c) => c.name === "n8n");
      expect(n8n?.volumeMounts?.map((m) => m.name)).toContain("aws-iam-token");
      for (const runner of p.spec.initContainers ?? []) {
        expect(runner.volumeMounts?.map((m) => m.name)).not.toContain("aws-iam-token");
        expect((runner.env ?? []).map((e) => e.name).filter((n) => n.startsWith("AWS_"))).toEqual([]);
      }
    }
    expect(run.manifests.some((m) => m.metadata.name === OBJECT_STORAGE.keysSecret.name)).toBe(false);
  });

  it("s3-compatible makes no AWS resource, and n8n may reach the storage's CIDRs on its port", async () => {
    const run = await runProgram("objcompat", COMPATIBLE);
    expect(run.resources.filter((r) => r.type.startsWith("aws:") && r.name.includes("object-storage"))).toEqual([]);
    expect(run.resources.filter((r) => r.type.startsWith("aws:"))).toHaveLength(
      (await runProgram("objnone", LICENSED)).resources.filter((r) => r.type.startsWith("aws:")).length,
    );
    const flows = networkFlows(networkProps(parseStackConfig("t", COMPATIBLE), "n8n"));
    const flow = flows.find((f) => f.name === "n8n-to-object-storage");
    expect(flow?.to).toEqual({ kind: "cidrs", cidrs: ["10.30.0.0/16"], except: [] });
    expect(flow?.ports).toEqual([{ port: 9000, protocol: "TCP" }]);
  });

  it("aws: n8n may reach S3 and STS on 443 even when workflows' egress is narrowed", () => {
    const c = parseStackConfig("t", { ...AWS_STATIC, network: { egress: { cidrs: ["203.0.113.0/24"] } } });
    const flow = networkFlows(networkProps(c, "n8n")).find((f) => f.name === "n8n-to-s3");
    expect(flow?.from).toEqual({ kind: "pods", components: ["main", "worker", "webhook"] });
    expect(flow?.to).toMatchObject({ kind: "cidrs", cidrs: ["0.0.0.0/0"] });
    expect(flow?.ports).toEqual([{ port: 443, protocol: "TCP" }]);
    const none = networkFlows(networkProps(parseStackConfig("t", LICENSED), "n8n"));
    expect(none.some((f) => f.name.includes("s3") && f.name.startsWith("n8n"))).toBe(false);
  });

  it("n8n's policy allows exactly the actions of the commands it sends, on this bucket only", () => {
    const doc = n8nObjectStorePolicy("arn:aws:s3:::b", "arn:aws:kms:eu-west-1:1:key/k");
    const actions = doc.Statement.flatMap((s) => s.Action as string[]);
    expect(new Set(actions.filter((a) => a.startsWith("s3:")))).toEqual(new Set(Object.values(N8N_S3_COMMANDS)));
    expect(actions.some((a) => a.includes("*") && a.startsWith("s3:"))).toBe(false);
    expect(doc.Statement.map((s) => s.Resource)).toEqual([
      "arn:aws:s3:::b",
      "arn:aws:s3:::b/*",
      "arn:aws:kms:eu-west-1:1:key/k",
    ]);
  });
});

describe("config errors of the object storage", () => {
  it("an s3 mode needs the licence (n8n exits at start without it)", () => {
    expect(configErrorText({ domain: "n8n.example.com", n8n: { binaryData: { mode: "s3" } } })).toContain(
      'n8n.binaryData.mode ("s3") needs n8n\'s Enterprise licence',
    );
    expect(configErrorText({ domain: "n8n.example.com", n8n: { executionData: { mode: "s3" } } })).toContain(
      "n8n.executionData.mode",
    );
    const viaExternalSecret = {
      domain: "n8n.example.com",
      n8n: { binaryData: { mode: "s3" } },
      secrets: { externalSecret: { storeName: "vault", remoteRefs: { license: { key: "n8n/license" } } } },
    };
    expect(configErrorText(viaExternalSecret)).toBe("");
  });

  it("s3-compatible names each missing key; keys of the other provider are refused", () => {
    const msg = configErrorText(
      withStorage({ binaryData: { mode: "s3" }, objectStorage: { provider: "s3-compatible" } }),
    );
    for (const key of ["bucketName", "host", "accessKey", "secretKey", "cidrs"]) {
      expect(msg).toContain(
        `n8n.objectStorage.${key} (not set) is required when n8n.objectStorage.provider is "s3-compatible"`,
      );
    }
    expect(
      configErrorText(
        withStorage({ binaryData: { mode: "s3" }, objectStorage: { host: "minio:9000", expireDays: 30 } }),
      ),
    ).toContain(
      'n8n.objectStorage.host ("minio:9000") applies to the other provider (n8n.objectStorage.provider is "aws")',
    );
  });

  it("expireDays below what n8n still lists is refused, naming the bound", () => {
    const msg = configErrorText(withStorage({ binaryData: { mode: "s3" }, objectStorage: { expireDays: 3 } }));
    expect(msg).toContain("n8n.objectStorage.expireDays (3) must be >= 16");
    expect(configErrorText(withStorage({ binaryData: { mode: "s3" }, objectStorage: { expireDays: 16 } }))).toBe("");
  });

  it("irsa needs the OIDC provider here or on postgres.archive; production refuses plain http", () => {
    const msg = configErrorText(withStorage({ binaryData: { mode: "s3" }, objectStorage: { credentials: "irsa" } }));
    expect(msg).toContain("n8n.objectStorage.oidcProviderArn (not set) is required");
    expect(msg).toContain("n8n.objectStorage.oidcIssuer (not set) is required");
    const http = {
      ...COMPATIBLE,
      production: true,
      workers: { minReplicas: 2 },
      postgres: { instances: 2 },
      n8n: { ...COMPATIBLE.n8n, objectStorage: { ...MINIO, protocol: "http" } },
    };
    expect(configErrorText(http)).toContain(
      'n8n.objectStorage.protocol ("http") must be "https" when production is true',
    );
  });

  it("a bad mode or region names the key and what is allowed", () => {
    expect(configErrorText(withStorage({ binaryData: { mode: "filesystem" } }))).toContain(
      'n8n.binaryData.mode ("filesystem") must be one of "database", "s3"',
    );
    expect(configErrorText(withStorage({ binaryData: { mode: "s3" }, objectStorage: { region: "Europe" } }))).toContain(
      "n8n.objectStorage.region",
    );
  });
});

describe("the README's example", () => {
  it("is a stack config the program accepts, with both s3 modes on a bucket made here", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const section = readme.split("## Binary and execution data in S3")[1]?.split("\n## ")[0] ?? "";
    const block = section.match(/```yaml\n([\s\S]*?)```/)?.[1] ?? "";
    const n8n = (parseYaml(block) as Record<string, unknown>)["n8n-cluster:n8n"] as Record<string, unknown>;
    const raw = { domain: "n8n.example.com", n8n };
    expect(configErrorText(raw)).toBe("");
    const env = envOf(raw);
    expect(env.N8N_DEFAULT_BINARY_DATA_MODE).toBe("s3");
    expect(env.N8N_EXECUTION_DATA_STORAGE_MODE).toBe("s3");
    expect(parseStackConfig("t", raw).objectStorage?.provider).toBe("aws");
  });
});
