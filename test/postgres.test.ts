import { beforeAll, describe, expect, it } from "vitest";
import { irsaTrustPolicy, tlsOnlyBucketPolicy } from "../components/aws/s3";
import { AWS_KEYS_SECRET, NAMES } from "../components/kubernetes/names";
import { postgresProps } from "../components/postgres";
import { dumpWriterPolicy, walgPolicy } from "../components/postgres/aws";
import { bootstrapConfigMap, bootstrapJob, dumpCronJob } from "../components/postgres/jobs";
import {
  archiveEnv,
  dcsConfiguration,
  derivedParameters,
  pgHba,
  restoreEnv,
  SPILO_REFS,
  spiloConfiguration,
  spiloConfigurationTemplate,
  spiloEnv,
  walPrefix,
  workMem,
} from "../components/postgres/spilo";
import {
  appUserSql,
  monitoringUserSql,
  outboxExporterQueries,
  outboxReaperSql,
  outboxSchemaSql,
} from "../components/postgres/sql";
import {
  postgresExporterContainer,
  postgresRole,
  postgresServices,
  postgresStatefulSet,
  SPILO_GID,
  SPILO_UID,
  spiloContainer,
} from "../components/postgres/statefulset";
import { parseStackConfig, type StackConfig } from "../config";
import type { RecordedResource } from "../render/mocks";
import type { StackRun } from "../render/run";
import { containerEnv, type KubeletEnvVar } from "../support/kubelet";
import { findManifest, outputValue, runProgram, runStackFile } from "./harness";

const base = { domain: "n8n.example.com" };
const cfg = (raw: Record<string, unknown> = {}): StackConfig => parseStackConfig("t", { ...base, ...raw });
/** The PostgreSQL part's props of a config, in namespace "ns". */
const pp = (c: StackConfig) => postgresProps(c, "ns");
type Env = { name: string; value?: unknown; valueFrom?: unknown };
const envValue = (env: Env[], name: string) => env.find((e) => e.name === name)?.value;

describe("SPILO_CONFIGURATION (pure)", () => {
  it("carries the Patroni timings and synchronous mode into the DCS section", () => {
    const c = cfg({
      postgres: { instances: 3, patroni: { ttl: 40, loopWait: 10, retryTimeout: 15, synchronousMode: true } },
    });
    const dcs = spiloConfiguration(pp(c)).bootstrap.dcs;
    expect(dcs).toMatchObject({ ttl: 40, loop_wait: 10, retry_timeout: 15, synchronous_mode: true });
    expect(dcs.postgresql.parameters.max_connections).toBe(String(c.postgres.maxConnections));
  });

  it("bounds RPO with archive_timeout 60 s by default, and audits with log_line_prefix", () => {
    const spilo = spiloConfiguration(pp(cfg()));
    const p = spilo.bootstrap.dcs.postgresql.parameters;
    expect(p.archive_timeout).toBe("60s");
    expect(spilo.postgresql.parameters.archive_mode).toBe("on");
    expect(p.password_encryption).toBe("scram-sha-256");
    expect(p.log_line_prefix).toContain("%u@%d");
    expect(p.log_line_prefix).toContain("%h");
    expect(p.log_statement).toBe("ddl");
  });

  it("scales memory settings from the limit as the large-instance tuning does for 16 GiB and 200 connections", () => {
    const c = cfg({
      postgres: { maxConnections: 200, resources: { requests: { memory: "8Gi" }, limits: { memory: "16Gi" } } },
    });
    expect(derivedParameters(pp(c))).toMatchObject({
      shared_buffers: "4096MB",
      effective_cache_size: "12288MB",
      maintenance_work_mem: "1024MB",
    });
    expect(workMem(pp(c))).toBe("20MB");
  });

  it("lets explicit parameters win over derived ones, as local settings (which override the DCS)", () => {
    const p = spiloConfiguration(pp(cfg({ postgres: { parameters: { work_mem: "64MB", jit: "off" } } }))).postgresql
      .parameters;
    expect(p).toMatchObject({ work_mem: "64MB", jit: "off" });
  });

  it("keeps every setting that changes with scaling or changes without a restart in the DCS, not in the pod", () => {
    const local = spiloConfiguration(pp(cfg())).postgresql.parameters as Record<string, string>;
    for (const name of [
      "max_connections",
      "work_mem",
      "archive_timeout",
      "log_min_duration_statement",
      "wal_keep_size",
    ])
      expect(local[name], name).toBeUndefined();
    const dcs = dcsConfiguration(pp(cfg())).postgresql.parameters as Record<string, string>;
    expect(Object.keys(dcs)).toEqual(expect.arrayContaining(["max_connections", "work_mem", "archive_timeout"]));
  });

  it("SPILO_CONFIGURATION references the DCS ConfigMap and the REST API password; the kubelet fills them in", () => {
    const c = cfg();
    const template = spiloConfigurationTemplate(pp(c));
    expect(template).toContain(`"dcs":$(${SPILO_REFS.bootstrapDcs})`);
    expect(template).toContain(`"password":"$(${SPILO_REFS.restapiPassword})"`);
    const env = containerEnv([
      { name: SPILO_REFS.restapiPassword, value: "pw0123456789" },
      { name: SPILO_REFS.bootstrapDcs, value: JSON.stringify(dcsConfiguration(pp(c))) },
      { name: "SPILO_CONFIGURATION", value: template },
    ]);
    expect(JSON.parse(env.SPILO_CONFIGURATION as string)).toEqual(spiloConfiguration(pp(c), "pw0123456789"));
  });

  it("pg_hba: scram from the pod CIDRs over TLS, everything else rejected", () => {
    const hba = pgHba(pp(cfg({ postgres: { clientCidrs: ["10.0.0.0/8"] } })));
    expect(hba.at(-1)).toBe("host all all all reject");
    for (const line of hba.filter((l) => l.startsWith("host"))) expect(line).toMatch(/(scram-sha-256|reject)$/);
    expect(hba).toContain("hostssl all all 10.0.0.0/8 scram-sha-256");
    expect(hba.join("\n")).not.toMatch(/\bmd5\b|\btrust\b.*\d+\.\d+/);
    expect(pgHba(pp(cfg({ postgres: { tls: false } })))).toContain("host all all 10.0.0.0/8 scram-sha-256");
  });
});

describe("Spilo env (pure)", () => {
  const c = cfg({ postgres: { archive: { region: "eu-west-1" } } });

  it("uses the Kubernetes DCS in ConfigMaps mode with the scope and labels the Services select", () => {
    const env = spiloEnv(pp(c), undefined) as Env[];
    expect(envValue(env, "DCS_ENABLE_KUBERNETES_API")).toBe("true");
    expect(envValue(env, "KUBERNETES_USE_CONFIGMAPS")).toBe("true");
    expect(envValue(env, "SCOPE")).toBe(NAMES.postgres);
    expect(envValue(env, "PGVERSION")).toBe("17");
    expect(envValue(env, "SPILO_CONFIGURATION")).toBe(spiloConfigurationTemplate(pp(c)));
    for (const name of ["PGPASSWORD_SUPERUSER", "PGPASSWORD_STANDBY", SPILO_REFS.restapiPassword]) {
      expect(env.find((e) => e.name === name)?.valueFrom).toBeDefined();
    }
  });

  it("archives with WAL-G to the given bucket, under the exact prefix the IAM policy names", () => {
    const env = archiveEnv(pp(c), { bucket: "wal-bucket", roleArn: "arn:aws:iam::1:role/r" }) as Env[];
    expect(envValue(env, "WAL_S3_BUCKET")).toBe("wal-bucket");
    expect(envValue(env, "USE_WALG_BACKUP")).toBe("true");
    expect(envValue(env, "WAL_BUCKET_SCOPE_PREFIX")).toBe("");
    expect(envValue(env, "AWS_REGION")).toBe("eu-west-1");
    // With IRSA no credential variable reaches Spilo: WAL-G would copy AWS_ROLE_ARN and fail (aws-identity.ts).
    expect(env.filter((e) => e.name.startsWith("AWS_") && e.name !== "AWS_REGION")).toEqual([]);
    expect(walPrefix()).toBe(`spilo/${NAMES.postgres}/wal/17`);
    const staticEnv = archiveEnv(pp(c), { bucket: "wal-bucket" }) as Env[];
    expect(staticEnv.find((e) => e.name === "AWS_SECRET_ACCESS_KEY")?.valueFrom).toEqual({
      secretKeyRef: { name: AWS_KEYS_SECRET.name, key: AWS_KEYS_SECRET.keys.secretAccessKey },
    });
    expect(
      envValue(
        archiveEnv(pp(cfg({ postgres: { archive: { kmsKeyArn: "arn:aws:kms:eu-west-1:1:key/k" } } })), {
          bucket: "b",
        }) as Env[],
        "WALG_S3_SSE",
      ),
    ).toBe("aws:kms");
  });

  it("a restore config yields the clone env", () => {
    const r = cfg({ postgres: { restore: { targetTime: "2026-11-20 10:00:00+00:00", fromScope: "old-cluster" } } });
    const env = restoreEnv(pp(r), { bucket: "wal-bucket" }) as Env[];
    expect(Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]))).toMatchObject({
      CLONE_METHOD: "CLONE_WITH_WALE",
      CLONE_SCOPE: "old-cluster",
      CLONE_WAL_S3_BUCKET: "wal-bucket",
      CLONE_TARGET_TIME: "2026-11-20 10:00:00+00:00",
      CLONE_PGVERSION: "17",
      CLONE_USE_WALG_RESTORE: "true",
    });
    expect(restoreEnv(pp(cfg()), { bucket: "b" })).toEqual([]);
  });

  it("rejects a restore time without a timezone, naming the key", () => {
    expect(() => cfg({ postgres: { restore: { targetTime: "2026-11-20 10:00" } } })).toThrow(
      /postgres\.restore\.targetTime/,
    );
  });
});

describe("Kubernetes objects (pure)", () => {
  const c = cfg({ production: true, size: "large", postgres: { instances: 3 } });

  it("the StatefulSet: pinned Spilo, probes on Patroni's REST API, PVCs, /dev/shm, one member per node", () => {
    const sts = postgresStatefulSet(pp(c), { bucket: "b" });
    const pod = sts.spec.template.spec;
    const container = spiloContainer(pp(c), { bucket: "b" });
    expect(pod.containers.map((x) => x.name)).toEqual(["postgres", "exporter"]);
    expect(sts.spec.replicas).toBe(3);
    expect(container.image).toBe("ghcr.io/zalando/spilo-17:4.0-p3");
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readiness", port: "patroni" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/liveness", port: "patroni" });
    expect(container.ports).toEqual([
      { name: "postgresql", containerPort: 5432 },
      { name: "patroni", containerPort: 8008 },
    ]);
    expect(pod.volumes).toContainEqual({ name: "dshm", emptyDir: { medium: "Memory", sizeLimit: "4096Mi" } });
    expect(sts.spec.volumeClaimTemplates[0]?.spec.resources.requests.storage).toBe(c.postgres.storageSize);
    expect(pod.securityContext).toMatchObject({ runAsUser: SPILO_UID, runAsGroup: SPILO_GID, fsGroup: SPILO_GID });
    expect(pod.affinity.podAntiAffinity).toHaveProperty("requiredDuringSchedulingIgnoredDuringExecution");
    const staging = postgresStatefulSet(pp(cfg({ postgres: { instances: 2 } })), undefined);
    expect(staging.spec.template.spec.affinity.podAntiAffinity).toHaveProperty(
      "preferredDuringSchedulingIgnoredDuringExecution",
    );
  });

  it("Services: the primary selects the leader role, replicas the replica role, headless everything", () => {
    const s = postgresServices(pp(c));
    expect(s.primary.metadata.name).toBe(NAMES.postgres);
    expect(s.primary.spec.selector["spilo-role"]).toBe("master");
    expect(s.replicas.spec.selector["spilo-role"]).toBe("replica");
    expect(s.headless.spec.clusterIP).toBe("None");
    expect(s.headless.spec.selector).not.toHaveProperty("spilo-role");
  });

  it("RBAC: a namespaced Role with exactly what Patroni's Kubernetes DCS uses", () => {
    const rules = postgresRole(pp(c)).rules;
    expect(rules.map((r) => r.resources[0])).toEqual(["configmaps", "endpoints", "pods", "services"]);
    expect(rules.find((r) => r.resources[0] === "pods")?.verbs).not.toContain("create");
    expect(rules.find((r) => r.resources[0] === "services")?.verbs).toEqual(["create"]);
  });

  it("the bootstrap Job runs the app-user script (and the outbox one when enabled)", () => {
    const job = bootstrapJob(pp(cfg({ postgres: { outbox: { enabled: true } } })));
    const container = job.spec.template.spec.containers[0];
    const script = container?.command[2] ?? "";
    expect(script).toContain("--file=/sql/app-user.sql");
    expect(script.indexOf("monitoring.sql")).toBeLessThan(script.indexOf("outbox.sql"));
    expect(script).toContain("--file=/sql/outbox.sql");
    expect(bootstrapJob(pp(cfg())).spec.template.spec.containers[0]?.command[2]).not.toContain("outbox");
    const env = container?.env ?? [];
    expect(env.find((e) => e.name === "APP_PASSWORD")).toHaveProperty("valueFrom");
    expect(env.find((e) => e.name === "APP_STATEMENT_TIMEOUT")).toEqual({
      name: "APP_STATEMENT_TIMEOUT",
      value: "300s",
    });
    const tight = bootstrapJob(pp(cfg({ n8n: { statementTimeoutSeconds: 45 } }))).spec.template.spec.containers[0];
    expect(tight?.env?.find((e) => e.name === "APP_STATEMENT_TIMEOUT")).toHaveProperty("value", "45s");
    expect(Object.keys(bootstrapConfigMap(pp(cfg({ postgres: { outbox: { enabled: true } } }))).data)).toEqual([
      "app-user.sql",
      "monitoring.sql",
      "outbox.sql",
      "outbox-reaper.sql",
      "exporter-queries.yaml",
      "dump.py",
    ]);
  });

  it("the dump CronJob never overlaps, reads a replica when there is one, and writes to the dump bucket", () => {
    const cron = dumpCronJob(pp(c), { bucket: "dumps", roleArn: "arn:aws:iam::1:role/d" });
    expect(cron.spec.concurrencyPolicy).toBe("Forbid");
    const container = cron.spec.jobTemplate.spec.template.spec.containers[0];
    const env = (container?.env ?? []) as Env[];
    expect(envValue(env, "PGHOST")).toBe(NAMES.postgresReplicas);
    expect(envValue(env, "PGUSER")).toBe("n8n");
    expect(envValue(env, "DUMP_BUCKET")).toBe("dumps");
    expect(container?.command).toEqual(["python3", "/sql/dump.py"]);
    const single = dumpCronJob(pp(cfg({ postgres: { instances: 1 } })), { bucket: "dumps" });
    expect(envValue(single.spec.jobTemplate.spec.template.spec.containers[0]?.env as Env[], "PGHOST")).toBe(
      NAMES.postgres,
    );
  });
});

describe("postgres_exporter (pure)", () => {
  it("connects over loopback as the monitoring role, and loads the outbox queries only with the outbox", () => {
    const e = postgresExporterContainer(pp(cfg()));
    expect(e.image).toBe("quay.io/prometheuscommunity/postgres-exporter:v0.20.1");
    expect(envValue(e.env as Env[], "DATA_SOURCE_USER")).toBe("postgres_exporter");
    expect(envValue(e.env as Env[], "DATA_SOURCE_URI")).toMatch(/^127\.0\.0\.1:5432\//);
    expect(e.env.find((x) => x.name === "DATA_SOURCE_PASS")?.valueFrom).toBeDefined();
    expect(e.volumeMounts).toEqual([]);
    const withOutbox = postgresExporterContainer(pp(cfg({ postgres: { outbox: { enabled: true } } })));
    expect(envValue(withOutbox.env as Env[], "PG_EXPORTER_EXTEND_QUERY_PATH")).toBe(
      "/etc/postgres-exporter/exporter-queries.yaml",
    );
  });

  it("the monitoring role gets pg_monitor and no more; the outbox queries name their metrics", () => {
    const sql = monitoringUserSql();
    expect(sql).toContain("GRANT pg_monitor");
    expect(sql).toContain("NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION");
    expect(sql.indexOf("SET log_statement = 'none'")).toBeLessThan(sql.indexOf("PASSWORD :'monitoring_password'"));
    const queries = JSON.parse(outboxExporterQueries(pp(cfg({ postgres: { outbox: { enabled: true } } }))));
    expect(Object.keys(queries)).toEqual(["n8n_outbox", "n8n_outbox_failed"]);
  });
});

describe("SQL (pure)", () => {
  it("the app role has least privilege and its password never reaches a log or command line", () => {
    const sql = appUserSql();
    expect(sql).toContain("NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION");
    expect(sql).toContain("\\getenv app_password APP_PASSWORD");
    expect(sql.indexOf("SET log_statement = 'none'")).toBeLessThan(sql.indexOf("PASSWORD :'app_password'"));
    expect(sql).toContain('REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC');
    expect(sql).toMatch(/WHERE NOT EXISTS \(SELECT 1 FROM pg_roles/);
    expect(sql).toContain("\\getenv statement_timeout APP_STATEMENT_TIMEOUT");
    expect(sql).toContain(`ALTER ROLE :"app_user" SET statement_timeout = :'statement_timeout';`);
  });

  it("the outbox has the R6 indexes and the reaper works in bounded batches", () => {
    const schema = outboxSchemaSql();
    expect(schema).toContain("ON integration_outbox (event_key)");
    expect(schema).toContain("ON integration_outbox (status, available_at, created_at)");
    expect(schema).toContain("ON integration_outbox (aggregate_type, aggregate_id, created_at)");
    expect(schema).toContain("PRIMARY KEY (event_key, action)");
    const reaper = outboxReaperSql(
      pp(cfg({ postgres: { outbox: { enabled: true, stuckMinutes: 20, pruneBatchSize: 1000 } } })),
    );
    expect(reaper).toContain("interval '20 minutes'");
    expect(reaper).toContain("LIMIT 1000");
    expect(reaper).toContain("COMMIT;");
  });
});

describe("AWS policies (pure)", () => {
  const arn = "arn:aws:s3:::wal";

  it("WAL-G may touch only its own prefix of its own bucket", () => {
    const p = walgPolicy(arn, "spilo/x/wal/17");
    const resources = p.Statement.flatMap((s) => [s.Resource].flat()) as string[];
    for (const r of resources) expect(r === arn || r.startsWith(`${arn}/spilo/x/wal/17/`)).toBe(true);
    expect(JSON.stringify(p)).not.toContain('"s3:*"');
  });

  it("the dump writer can only put objects under its prefix", () => {
    const p = dumpWriterPolicy("arn:aws:s3:::d", "dumps/x");
    expect(p.Statement).toEqual([
      { Effect: "Allow", Action: ["s3:PutObject", "s3:AbortMultipartUpload"], Resource: "arn:aws:s3:::d/dumps/x/*" },
    ]);
  });

  it("the bucket policy refuses plain HTTP; the trust policy names one ServiceAccount", () => {
    expect(tlsOnlyBucketPolicy(arn).Statement[0]).toMatchObject({
      Effect: "Deny",
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    });
    const trust = irsaTrustPolicy("arn:aws:iam::1:oidc-provider/o", "o", "ns", "sa").Statement[0];
    expect(trust?.Condition).toEqual({
      StringEquals: { "o:sub": "system:serviceaccount:ns:sa", "o:aud": "sts.amazonaws.com" },
    });
  });
});

/** SPILO_CONFIGURATION of a rendered stack as the Spilo container sees it (the kubelet's expansion). */
function spiloConfigurationOf(run: StackRun) {
  const env = containerEnv(spiloEnvOf(run) as KubeletEnvVar[], { manifests: run.manifests });
  return JSON.parse(env.SPILO_CONFIGURATION as string) as ReturnType<typeof spiloConfiguration>;
}

/** The Spilo container's env in a rendered stack. */
function spiloEnvOf(run: StackRun): Env[] {
  const sts = findManifest(run, "StatefulSet", NAMES.postgres);
  return (sts.spec as { template: { spec: { containers: { env: Env[] }[] } } }).template.spec.containers[0]?.env ?? [];
}

function inputsOf(run: StackRun, type: string): RecordedResource[] {
  return run.resources.filter((r) => r.type === type);
}

describe("prod under mocks (IRSA)", () => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStackFile("prod");
  });

  it("runs 3 members in synchronous mode with a PDB", () => {
    expect((findManifest(run, "StatefulSet", NAMES.postgres).spec as { replicas: number }).replicas).toBe(3);
    expect(spiloConfigurationOf(run).bootstrap.dcs.synchronous_mode).toBe(true);
    expect(run.manifests.some((m) => m.kind === "PodDisruptionBudget" && m.metadata.name === NAMES.postgres)).toBe(
      true,
    );
  });

  it("the archive env points at the bucket the program creates", async () => {
    const bucket = await outputValue(run.exports.walArchiveBucket as Parameters<typeof outputValue>[0]);
    const buckets = inputsOf(run, "aws:s3/bucket:Bucket");
    expect(buckets).toHaveLength(2);
    const env = spiloEnvOf(run);
    expect(envValue(env, "WAL_S3_BUCKET")).toBe(bucket);
    expect(bucket).toMatch(/^n8n-prod-wal-/);
  });

  it("each bucket is versioned, encrypted, private, bucket-owner-enforced, TLS-only; the dump bucket is locked", () => {
    for (const type of [
      "aws:s3/bucketVersioning:BucketVersioning",
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
      "aws:s3/bucketPolicy:BucketPolicy",
      "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    ]) {
      expect(inputsOf(run, type), type).toHaveLength(2);
    }
    for (const pab of inputsOf(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")) {
      expect(pab.inputs).toMatchObject({
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      });
    }
    for (const v of inputsOf(run, "aws:s3/bucketVersioning:BucketVersioning")) {
      expect(v.inputs.versioningConfiguration).toEqual({ status: "Enabled" });
    }
    const lock = inputsOf(run, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration");
    expect(lock).toHaveLength(1);
    expect(lock[0]?.inputs.rule).toEqual({ defaultRetention: { mode: "COMPLIANCE", days: 30 } });
    const dumpBucket = inputsOf(run, "aws:s3/bucket:Bucket").find((b) => b.inputs.objectLockEnabled === true);
    expect(dumpBucket?.inputs.bucketPrefix).toBe("n8n-prod-dump-");
  });

  it("IAM: WAL-G's role may use only its bucket prefix; trust names only its ServiceAccount", () => {
    const roles = inputsOf(run, "aws:iam/role:Role");
    expect(roles).toHaveLength(2);
    const subs = roles.map((r) => {
      const trust = JSON.parse(r.inputs.assumeRolePolicy as string);
      return Object.entries(trust.Statement[0].Condition.StringEquals).find(([k]) => k.endsWith(":sub"))?.[1];
    });
    expect(subs.sort()).toEqual([
      `system:serviceaccount:n8n-prod:${NAMES.postgresServiceAccount}`,
      `system:serviceaccount:n8n-prod:${NAMES.postgresDump}`,
    ]);
    const walg = inputsOf(run, "aws:iam/rolePolicy:RolePolicy").find((p) => p.name.includes("walg"));
    const policy = JSON.parse(walg?.inputs.policy as string);
    const resources = policy.Statement.flatMap((s: { Resource: string | string[] }) => [s.Resource].flat());
    for (const r of resources)
      expect(r).toMatch(/^arn:aws:s3:::n8n-prod-wal-[a-f0-9]+(\/spilo\/n8n-postgres\/wal\/17\/\*)?$/);
  });

  it("max_connections covers the n8n connection budget", () => {
    const max = Number(spiloConfigurationOf(run).bootstrap.dcs.postgresql.parameters.max_connections);
    const pools = run.manifests
      .filter((m) => m.kind === "Deployment")
      .map((d) => {
        const spec = d.spec as { replicas: number; template: { spec: { containers: { env: Env[] }[] } } };
        const hpa = run.manifests.find(
          (h) => h.kind === "HorizontalPodAutoscaler" && h.metadata.name === d.metadata.name,
        )?.spec as { maxReplicas: number } | undefined;
        const pool = Number(envValue(spec.template.spec.containers[0]?.env ?? [], "DB_POSTGRESDB_POOL_SIZE"));
        return pool * (hpa?.maxReplicas ?? spec.replicas);
      });
    expect(max).toBeGreaterThan(pools.reduce((a, b) => a + b, 0));
  });
});

describe("staging under mocks (static keys)", () => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStackFile("staging");
  });

  it("an IAM user's access key lands in a Secret that Spilo and the dump job reference", () => {
    expect(inputsOf(run, "aws:iam/user:User")).toHaveLength(1);
    expect(inputsOf(run, "aws:iam/accessKey:AccessKey")).toHaveLength(1);
    const secret = run.manifests.find((m) => m.kind === "Secret" && m.metadata.name === AWS_KEYS_SECRET.name);
    expect(Object.keys(secret?.stringData as object).sort()).toEqual(["access-key-id", "secret-access-key"]);
    expect(inputsOf(run, "aws:iam/role:Role")).toHaveLength(0);
  });

  it("runs 2 members without synchronous mode", () => {
    expect((findManifest(run, "StatefulSet", NAMES.postgres).spec as { replicas: number }).replicas).toBe(2);
  });
});

describe("options under mocks", () => {
  it("no archive: no AWS resources and no archive env", async () => {
    const run = await runProgram("noarchive", {
      ...base,
      postgres: { archive: { enabled: false }, backup: { dump: { enabled: false } } },
    });
    expect(run.resources.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
    expect(run.exports.walArchiveBucket).toBeUndefined();
  });

  it("a dump without an archive is refused with the key path", async () => {
    await expect(runProgram("bad", { ...base, postgres: { archive: { enabled: false } } })).rejects.toThrow(
      /postgres\.backup\.dump\.enabled \(true\) needs postgres\.archive\.enabled/,
    );
  });
});

describe("the data stores' StatefulSets are guarded", () => {
  const statefulSets = (run: StackRun) =>
    Object.fromEntries(
      run.resources
        .filter((r) => r.type === "kubernetes:apps/v1:StatefulSet")
        .map((r) => [
          r.name,
          { protect: r.protect, orphan: (r.inputs.metadata as { annotations?: Record<string, string> }).annotations },
        ]),
    );

  it("protected unless allowReplace, and deleted with propagation orphan (the engine suite replaces one)", async () => {
    const orphan = { "pulumi.com/deletionPropagationPolicy": "orphan" };
    expect(statefulSets(await runProgram("guard", base))).toEqual({
      "n8n-postgres-statefulset": { protect: true, orphan },
      "n8n-redis-statefulset": { protect: true, orphan },
    });
    const opted = await runProgram("guard", {
      ...base,
      postgres: { allowReplace: true },
      redis: { allowReplace: true },
    });
    expect(statefulSets(opted)).toEqual({
      "n8n-postgres-statefulset": { protect: false, orphan },
      "n8n-redis-statefulset": { protect: false, orphan },
    });
  });
});
