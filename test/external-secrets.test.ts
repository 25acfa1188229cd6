/**
 * Secrets kept outside the program (issue 15, item 3): values from Secrets that already exist, and
 * from a secret store through an External Secrets Operator ExternalSecret. What n8n, Redis and the
 * bootstrap Job read must follow the configured place; the program must neither generate nor store
 * those values; and the policy pack must still accept the encryption key's source (and refuse it
 * when the source is not declared).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { EXTERNAL_SECRET, KEY_SOURCE_ANNOTATION, SECRETS } from "../components/kubernetes/names";
import { SECRET_VALUES } from "../components/secrets";
import { parseStackConfig } from "../config";
import { runStack, type StackRun } from "../render/run";
import { stackConfigFromYaml } from "../render/stack-files";
import { configErrorText, findManifest, loadProgram, outputValue, podsOf, ROOT, runProgram } from "./harness";
import { evaluatePack } from "./policy-harness";

const BASE = { domain: "n8n.example.com", webhooks: { enabled: true } };
const EXISTING = {
  encryptionKey: { name: "team-n8n", key: "n8n-key" },
  postgresPassword: { name: "rds-n8n", key: "password" },
  redisPassword: { name: "redis-auth", key: "auth" },
};

/** Every env var of every container of the rendered workloads, with its owner. */
function envRefs(run: StackRun, envName: string) {
  return podsOf(run.manifests).flatMap((pod) =>
    [...(pod.spec.initContainers ?? []), ...pod.spec.containers].flatMap((c) =>
      (c.env ?? [])
        .filter((e) => e.name === envName)
        .map((e) => ({
          owner: `${pod.owner.kind}/${pod.owner.metadata.name}/${c.name}`,
          ref: e.valueFrom?.secretKeyRef,
        })),
    ),
  );
}

const generated = (run: StackRun) =>
  run.resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword").map((r) => r.name);

describe("secrets.existing", () => {
  it("every reader of a value reads the existing Secret, and the program neither generates nor stores it", async () => {
    const run = await runProgram("existing", { ...BASE, secrets: { existing: EXISTING } });

    const key = envRefs(run, "N8N_ENCRYPTION_KEY");
    expect(key.map((k) => k.owner).sort()).toEqual([
      "Deployment/n8n-main/n8n",
      "Deployment/n8n-webhook/n8n",
      "Deployment/n8n-worker/n8n",
    ]);
    for (const k of key) expect(k.ref).toEqual(EXISTING.encryptionKey);
    const db = envRefs(run, "DB_POSTGRESDB_PASSWORD");
    expect(db).toHaveLength(3);
    for (const k of db) expect(k.ref).toEqual(EXISTING.postgresPassword);
    // The bootstrap Job gives the app role the password n8n will log in with.
    expect(envRefs(run, "APP_PASSWORD")).toEqual([
      { owner: "Job/n8n-postgres-bootstrap/bootstrap", ref: EXISTING.postgresPassword },
    ]);
    const redis = [...envRefs(run, "QUEUE_BULL_REDIS_PASSWORD"), ...envRefs(run, "REDIS_PASSWORD")];
    expect(redis.map((r) => r.owner)).toContain("StatefulSet/n8n-redis/redis");
    expect(redis.map((r) => r.owner)).toContain("StatefulSet/n8n-redis/exporter");
    for (const r of redis) expect(r.ref).toEqual(EXISTING.redisPassword);
    // Nothing still points at the program's place of these values.
    const text = JSON.stringify(run.manifests);
    expect(text.includes(`"key":"${SECRETS.n8n.keys.encryptionKey}"`)).toBe(false);
    expect(text.includes(`"key":"${SECRETS.postgres.keys.appPassword}"`)).toBe(false);

    expect(generated(run)).not.toContain("n8n-secrets-n8n-encryptionKey");
    expect(generated(run)).not.toContain("n8n-secrets-postgres-appPassword");
    expect(generated(run)).toHaveLength(SECRET_VALUES.length - 3);
    const core = findManifest(run, "Secret", SECRETS.n8n.name);
    expect(Object.keys(core.stringData as object)).not.toContain(SECRETS.n8n.keys.encryptionKey);
    expect((core.metadata.annotations as Record<string, string> | undefined)?.[KEY_SOURCE_ANNOTATION]).toBeUndefined();
    // Every value of the Redis group is elsewhere: no Secret of the program's for it.
    expect(run.manifests.some((m) => m.kind === "Secret" && m.metadata.name === SECRETS.redis.name)).toBe(false);
    expect(run.exports.encryptionKey).toBeUndefined();
  });

  it("the n8n pods declare the key's source, and the policy pack accepts it unless told otherwise", async () => {
    const run = await runProgram("existing-pack", { ...BASE, secrets: { existing: EXISTING } });
    for (const name of ["n8n-main", "n8n-worker", "n8n-webhook"]) {
      const d = findManifest(run, "Deployment", name) as unknown as {
        spec: { template: { metadata: { annotations?: Record<string, string> } } };
      };
      expect(d.spec.template.metadata.annotations?.[KEY_SOURCE_ANNOTATION]).toBe("existing-secret");
    }
    expect((await evaluatePack(run.resources)).filter((v) => v.level === "mandatory")).toEqual([]);
    const strict = await evaluatePack(run.resources, {
      config: { "encryption-key-secret-source": { allowExistingSecrets: false } },
    });
    expect(strict.map((v) => v.message)).toEqual([
      "N8N_ENCRYPTION_KEY references Secret team-n8n, made outside the stack, and allowExistingSecrets is false",
    ]);
  });

  it("a pod that reads an unmanaged Secret without declaring it is refused", async () => {
    const run = await runProgram("existing-undeclared", { ...BASE, secrets: { existing: EXISTING } });
    // What a hand edit (or a transform) that drops the declaration leaves behind.
    for (const r of run.resources) {
      const template = (r.inputs.spec as { template?: { metadata?: { annotations?: Record<string, string> } } })
        ?.template;
      if (template?.metadata?.annotations) delete template.metadata.annotations[KEY_SOURCE_ANNOTATION];
    }
    const messages = (await evaluatePack(run.resources)).map((v) => v.message);
    expect(messages).toContain(
      "N8N_ENCRYPTION_KEY references Secret team-n8n, which this stack neither manages, nor fills from a secret store (ExternalSecret with key n8n-key), nor declares as existing on the pods",
    );
  });

  it("the render of a stack without secrets.* keeps the program's Secrets and no key-source annotation", async () => {
    const run = await runProgram("default", BASE);
    expect(run.manifests.filter((m) => m.kind === "Secret").map((m) => m.metadata.name)).toEqual(
      expect.arrayContaining([SECRETS.n8n.name, SECRETS.postgres.name, SECRETS.redis.name]),
    );
    expect(run.manifests.some((m) => m.kind === "ExternalSecret")).toBe(false);
    const d = findManifest(run, "Deployment", "n8n-main") as unknown as {
      spec: { template: { metadata: { annotations?: Record<string, string> } } };
    };
    expect(d.spec.template.metadata.annotations).toBeUndefined();
  });
});

describe("secrets.externalSecret", () => {
  const ESO = {
    storeName: "vault",
    remoteRefs: {
      encryptionKey: { key: "n8n/prod", property: "encryptionKey" },
      runnersAuthToken: { key: "n8n/prod", property: "runnersToken" },
      license: { key: "n8n/license" },
    },
  };

  it("renders one ExternalSecret for the named values, and n8n reads them from its target Secret", async () => {
    const run = await runProgram("eso", { ...BASE, secrets: { externalSecret: ESO } });
    const es = findManifest(run, "ExternalSecret", EXTERNAL_SECRET.name);
    expect(es.apiVersion).toBe("external-secrets.io/v1");
    expect(es.spec).toEqual({
      refreshInterval: "1h",
      secretStoreRef: { name: "vault", kind: "ClusterSecretStore" },
      target: { name: EXTERNAL_SECRET.name, creationPolicy: "Owner", deletionPolicy: "Retain" },
      data: [
        { secretKey: "encryption-key", remoteRef: { key: "n8n/prod", property: "encryptionKey" } },
        { secretKey: "runners-auth-token", remoteRef: { key: "n8n/prod", property: "runnersToken" } },
        { secretKey: "license", remoteRef: { key: "n8n/license" } },
      ],
    });
    for (const k of envRefs(run, "N8N_ENCRYPTION_KEY"))
      expect(k.ref).toEqual({ name: EXTERNAL_SECRET.name, key: "encryption-key" });
    const token = envRefs(run, "N8N_RUNNERS_AUTH_TOKEN");
    // n8n and the runner sidecar of each of the three roles must agree on the token.
    expect(token).toHaveLength(6);
    for (const k of token) expect(k.ref).toEqual({ name: EXTERNAL_SECRET.name, key: "runners-auth-token" });
    expect(envRefs(run, "N8N_LICENSE_ACTIVATION_KEY")).toEqual([
      { owner: "Deployment/n8n-main/n8n", ref: { name: EXTERNAL_SECRET.name, key: "license" } },
    ]);
    expect(generated(run)).not.toContain("n8n-secrets-n8n-encryptionKey");
    expect(generated(run)).not.toContain("n8n-secrets-n8n-runnersAuthToken");
    expect((await evaluatePack(run.resources)).filter((v) => v.level === "mandatory")).toEqual([]);
  });

  it("the pack refuses a key the ExternalSecret does not write", async () => {
    const run = await runProgram("eso-missing", { ...BASE, secrets: { externalSecret: ESO } });
    const es = run.resources.find((r) => r.type === "kubernetes:external-secrets.io/v1:ExternalSecret");
    const spec = es?.inputs.spec as { data: { secretKey: string }[] };
    spec.data = spec.data.filter((d) => d.secretKey !== "encryption-key");
    const messages = (await evaluatePack(run.resources)).map((v) => v.message);
    expect(messages.some((m) => m.startsWith("N8N_ENCRYPTION_KEY references Secret n8n-external"))).toBe(true);
  });

  it("multi-main is satisfied by a licence from the store", () => {
    expect(() =>
      parseStackConfig("s", { ...BASE, n8n: { multiMain: true }, secrets: { externalSecret: ESO } }),
    ).not.toThrow();
  });
});

describe("config errors of secrets.*", () => {
  const problems = (raw: Record<string, unknown>) => configErrorText(raw);

  it("a value named in two places", () => {
    const msg = problems({
      ...BASE,
      n8n: { license: { name: "lic", key: "k" } },
      secrets: {
        existing: { encryptionKey: EXISTING.encryptionKey },
        externalSecret: { storeName: "vault", remoteRefs: { encryptionKey: { key: "a" }, license: { key: "b" } } },
      },
    });
    expect(msg).toContain(
      'secrets.existing.encryptionKey ({"name":"team-n8n","key":"n8n-key"}) must not be set together with secrets.externalSecret.remoteRefs.encryptionKey',
    );
    expect(msg).toContain("n8n.license");
    expect(msg).toContain("must not be set together with secrets.externalSecret.remoteRefs.license");
  });

  it("an ExternalSecret that names nothing, an unknown value, a bad interval", () => {
    expect(problems({ ...BASE, secrets: { externalSecret: { storeName: "vault", remoteRefs: {} } } })).toContain(
      "must name at least one of encryptionKey, runnersAuthToken, postgresPassword, redisPassword, license",
    );
    expect(problems({ ...BASE, secrets: { existing: { ownerPassword: { name: "a", key: "b" } } } })).toMatch(
      /secrets\.existing.*ownerPassword.*is not a known key; allowed here: encryptionKey, runnersAuthToken, postgresPassword, redisPassword/,
    );
    expect(
      problems({
        ...BASE,
        secrets: {
          externalSecret: { storeName: "vault", refreshInterval: "hourly", remoteRefs: { license: { key: "l" } } },
        },
      }),
    ).toMatch(/secrets\.externalSecret\.refreshInterval \("hourly"\) must be a Go duration/);
  });

  it("a stack-secret encryption key together with an existing one", async () => {
    await expect(
      runProgram(
        "both",
        { ...BASE, secrets: { existing: { encryptionKey: EXISTING.encryptionKey } } },
        { encryptionKey: "configured-encryption-key-0123456789abcdef" },
      ),
    ).rejects.toThrow(/encryptionKey \("<hidden>"\) must not be set together with secrets\.existing\.encryptionKey/);
  });
});

describe("the README's Pulumi ESC example", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.split("<!-- esc-example:start -->")[1]?.split("<!-- esc-example:end -->")[0] ?? "";
  const [envDoc, stackDoc] = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);

  /** What ESC hands the program: pulumiConfig with ${path} interpolated and fn::secret values secret. */
  function openEnvironment(text: string, paste: string) {
    const values = (parseYaml(text) as { values: Record<string, unknown> }).values;
    const secretPaths = new Set<string>();
    const at = (path: string): unknown => {
      let v: unknown = values;
      for (const part of path.split(".")) v = (v as Record<string, unknown>)[part];
      if (v && typeof v === "object" && "fn::secret" in v) {
        secretPaths.add(path);
        return String((v as Record<string, unknown>)["fn::secret"]).replace("<paste: openssl rand -hex 32>", paste);
      }
      return v;
    };
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, raw] of Object.entries(values.pulumiConfig as Record<string, unknown>)) {
      const ref = typeof raw === "string" ? /^\$\{(.+)\}$/.exec(raw)?.[1] : undefined;
      const value = ref ? at(ref) : raw;
      config[key] = typeof value === "string" ? value : JSON.stringify(value);
      if (ref && secretPaths.has(ref)) secretKeys.push(key);
    }
    return { config, secretKeys };
  }

  it("imports the environment in the stack file and feeds the encryption key as a secret", async () => {
    expect(envDoc).toBeDefined();
    expect((parseYaml(stackDoc as string) as { environment: string[] }).environment).toEqual(["n8n/prod"]);
    const key = `${"a".repeat(16)}0123456789abcdef0123456789abcdef`;
    const env = openEnvironment(envDoc as string, key);
    expect(env.secretKeys).toEqual(["n8n-cluster:encryptionKey"]);
    const stack = stackConfigFromYaml(stackDoc as string, "n8n-cluster");
    const run = await runStack({
      project: "n8n-cluster",
      stack: "esc",
      // Stack-file values win over the environment's, as in the CLI.
      config: { ...env.config, ...stack.config },
      secretKeys: env.secretKeys,
      load: loadProgram,
    });
    expect(await outputValue(run.exports.encryptionKey as Parameters<typeof outputValue>[0])).toBe(key);
    const main = findManifest(run, "Deployment", "n8n-main") as unknown as {
      spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
    };
    expect(main.spec.template.spec.containers[0]?.env.find((e) => e.name === "N8N_SMTP_HOST")?.value).toBe(
      "smtp.example.com",
    );
  });

  it("the placeholder as written is refused, with the key named", async () => {
    const env = openEnvironment(envDoc as string, "<paste: openssl rand -hex 32>");
    await expect(
      runStack({
        project: "n8n-cluster",
        stack: "esc",
        config: { ...env.config, "n8n-cluster:domain": "n8n.example.com" },
        secretKeys: env.secretKeys,
        load: loadProgram,
      }),
    ).rejects.toThrow(/encryptionKey \("<secret of 29 characters>"\) must be at least 32 characters/);
  });
});
