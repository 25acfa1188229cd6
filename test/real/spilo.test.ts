/**
 * Spilo in the loop: the image's configure_spilo.py turns the rendered env into Patroni's config,
 * WAL-G's envdir and the backup crontab. Checked here: the archive prefix the IAM policy allows,
 * the credentials WAL-G will resolve (modelled from WAL-G 3.0.5 and aws-sdk-go, test/aws-credentials.ts),
 * the archive_timeout in force, the Kubernetes DCS in ConfigMaps mode with the labels the Services
 * select, the REST API credentials, and the clone env of a point-in-time restore.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NAMES } from "../../components/kubernetes/names";
import { type dcsConfiguration, RESTAPI_USER, walPrefix } from "../../components/postgres/spilo";
import type { Manifest } from "../../render/manifests";
import { mountedConfigMapFiles } from "../../support/kubelet";
import { containerOf, find, manifests, ROOT, removeDir, secretValue } from "../../support/servers";
import { configureSpilo, type SpiloRun } from "../../support/spilo";
import { walgCredentials } from "../aws-credentials";
import { rawStackConfig, runProgram } from "../harness";

const runs: SpiloRun[] = [];
afterAll(() => {
  for (const r of runs) removeDir(r.dir);
});

function configure(list: Manifest[]): SpiloRun {
  const run = configureSpilo(list);
  runs.push(run);
  return run;
}

interface PodSpec {
  containers: { name: string; volumeMounts?: { name: string; mountPath: string; subPath?: string }[] }[];
  volumes?: {
    name: string;
    configMap?: { name: string; items?: { key: string; path: string }[] };
    projected?: { sources: { serviceAccountToken?: { audience?: string; path: string } }[] };
  }[];
}
const podOf = (list: Manifest[]) =>
  (
    find(list, "StatefulSet", NAMES.postgres).spec as {
      template: { spec: PodSpec; metadata: { labels: Record<string, string> } };
    }
  ).template;

/** What a WAL-G run sees: the envdir over the env runit leaves Patroni (runit/patroni/run: HOME=/home/postgres). */
function walgEnv(envdir: Record<string, string>): Record<string, string> {
  return { HOME: "/home/postgres", PATH: "/usr/bin:/bin", ...envdir };
}

function walgPolicyPrefix(stack: string): string {
  const resources = JSON.parse(readFileSync(join(ROOT, "out", stack, "resources.json"), "utf8")) as {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
  }[];
  const policy = resources.find(
    (r) =>
      (r.type === "aws:iam/rolePolicy:RolePolicy" || r.type === "aws:iam/userPolicy:UserPolicy") &&
      r.name.includes("walg"),
  );
  const doc = JSON.parse(policy?.inputs.policy as string) as { Statement: { Action: string[]; Resource: string }[] };
  const put = doc.Statement.find((s) => [s.Action].flat().includes("s3:PutObject"));
  if (!put) throw new Error("the WAL-G policy allows no s3:PutObject");
  return put.Resource.replace(/^arn:aws:s3:::/, "").replace(/\/\*$/, "");
}

describe.each(["prod", "staging"])("configure_spilo.py with the rendered %s StatefulSet", (stack) => {
  const list = manifests(stack);
  const spilo = configure(list);
  const container = containerOf(find(list, "StatefulSet", NAMES.postgres), "postgres");
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));

  it("archives with WAL-G under exactly the prefix the IAM policy allows", () => {
    const prefix = `s3://${env.WAL_S3_BUCKET}/${walPrefix()}`;
    expect(spilo.envdir.WALG_S3_PREFIX).toBe(prefix);
    expect(`${spilo.envdir.WALG_S3_PREFIX?.replace(/^s3:\/\//, "")}`).toBe(walgPolicyPrefix(stack));
    expect(spilo.envdir.AWS_REGION).toBe(env.AWS_REGION);
    expect(spilo.envdir.WALG_S3_SSE).toBe("AES256");
    const parameters = spilo.patroni.postgresql.parameters;
    expect(parameters.archive_command).toBe(
      `envdir "${join(spilo.paths.rwDir, "etc/wal-e.d/env")}" wal-g wal-push "%p"`,
    );
    expect(parameters.archive_mode).toBe("on");
  });

  it("WAL-G resolves credentials it can use", () => {
    const pod = podOf(list).spec;
    const files = mountedConfigMapFiles(list, pod, "postgres");
    const creds = walgCredentials(walgEnv(spilo.envdir), files, "/home/postgres");
    if (stack === "prod") {
      expect(Object.keys(spilo.envdir)).not.toContain("AWS_ROLE_ARN");
      expect(creds).toMatchObject({
        kind: "web-identity",
        roleArn: expect.stringMatching(/^arn:aws:iam::\d{12}:role\//),
      });
      if (creds.kind !== "web-identity") return;
      const mount = containerOf(find(list, "StatefulSet", NAMES.postgres), "postgres") as unknown as {
        volumeMounts: { name: string; mountPath: string }[];
      };
      const tokenMount = mount.volumeMounts.find((m) => creds.tokenFile.startsWith(`${m.mountPath}/`));
      const volume = pod.volumes?.find((v) => v.name === tokenMount?.name);
      expect(volume?.projected?.sources[0]?.serviceAccountToken?.audience).toBe("sts.amazonaws.com");
    } else {
      expect(creds).toEqual({ kind: "static" });
      expect(spilo.envdir.AWS_ACCESS_KEY_ID).toBe(secretValue("n8n-postgres-aws", "access-key-id"));
    }
  });

  it("serves cert-manager's certificate as mounted, keeps the key as it is, and reloads it from cron", () => {
    const params = spilo.patroni.postgresql.parameters;
    expect(params.ssl).toBe("on");
    expect(params.ssl_cert_file).toBe(join(spilo.paths.tls, "tls.crt"));
    expect(params.ssl_key_file).toBe(join(spilo.paths.tls, "tls.key"));
    expect(params.ssl_ca_file).toBe(join(spilo.paths.tls, "ca.crt"));
    // write_certificates found the mounted key and generated nothing over it.
    expect(spilo.log).not.toContain("Generating ssl self-signed certificate");
    expect(readFileSync(join(spilo.paths.tls, "tls.key"), "utf8")).toBe(
      readFileSync(join(spilo.paths.tls, "server.key"), "utf8"),
    );
    // cert-manager renews the Secret; Spilo's cron job reloads PostgreSQL when the files change.
    const reload = spilo.crontab.split("\n").find((l) => l.includes("test_reload_ssl.sh"));
    expect(reload).toContain(`SSL_CERTIFICATE_FILE="${join(spilo.paths.tls, "tls.crt")}"`);
    expect(reload).toContain(`SSL_PRIVATE_KEY_FILE="${join(spilo.paths.tls, "tls.key")}"`);
  });

  it("runs the base backup on the configured schedule through cron", () => {
    const backup = spilo.crontab.split("\n").find((l) => l.includes("postgres_backup.sh"));
    expect(backup).toBe(
      `${env.BACKUP_SCHEDULE} envdir "${join(spilo.paths.rwDir, "etc/wal-e.d/env")}" /scripts/postgres_backup.sh "${join(spilo.paths.pgroot, "pgdata")}"`,
    );
    expect(spilo.envdir.BACKUP_NUM_TO_RETAIN).toBe(env.BACKUP_NUM_TO_RETAIN);
  });

  it("puts our DCS settings in bootstrap.dcs, and no local setting overrides archive_timeout", () => {
    const dcs = spilo.patroni.bootstrap.dcs;
    const ours = JSON.parse(
      (find(list, "ConfigMap", NAMES.postgresPatroni).data as Record<string, string>)["dcs.json"] as string,
    ) as ReturnType<typeof dcsConfiguration>;
    expect(dcs).toMatchObject({ ...ours, postgresql: { parameters: ours.postgresql.parameters } });
    // Patroni: local parameters override the DCS. The effective archive_timeout is ours, not Spilo's 1800 s.
    const effective = { ...dcs.postgresql.parameters, ...spilo.patroni.postgresql.parameters };
    expect(effective.archive_timeout).toBe(ours.postgresql.parameters.archive_timeout);
    expect(effective.max_connections).toBe(ours.postgresql.parameters.max_connections);
  });

  it("uses the Kubernetes DCS in ConfigMaps mode, finding its pods by labels they carry", () => {
    const k = spilo.patroni.kubernetes;
    expect(k.use_endpoints).toBeUndefined();
    expect(k.scope_label).toBe("cluster-name");
    expect(k.role_label).toBe("spilo-role");
    expect(k.leader_label_value).toBe("master");
    expect(spilo.patroni.scope).toBe(NAMES.postgres);
    const podLabels = podOf(list).metadata.labels;
    for (const [key, value] of Object.entries({ ...k.labels, [k.scope_label]: spilo.patroni.scope })) {
      expect(podLabels[key], key).toBe(value);
    }
    // The primary Service selects what Patroni sets on the leader.
    const primary = find(list, "Service", NAMES.postgres).spec as { selector: Record<string, string> };
    expect(primary.selector[k.role_label]).toBe(k.leader_label_value);
  });

  it("protects the REST API's unsafe endpoints with the password from the Secret", () => {
    expect(spilo.patroni.restapi.authentication).toEqual({
      username: RESTAPI_USER,
      password: secretValue("n8n-postgres-credentials", "patroni-api-password"),
    });
  });
});

describe("configure_spilo.py for a point-in-time restore (prod with postgres.restore)", () => {
  it("clones with WAL-G from the archive, with credentials WAL-G can use and the target time", async () => {
    const raw = structuredClone(rawStackConfig("prod")) as Record<string, Record<string, unknown>>;
    raw.postgres = { ...raw.postgres, restore: { targetTime: "2026-11-20 10:00:00+00:00" } };
    const run = await runProgram("prod", raw);
    const spilo = configure(run.manifests);
    const clone = spilo.envdirs[`env-clone-${NAMES.postgres}`];
    expect(clone).toBeDefined();
    if (!clone) return;
    const bucket = (containerOf(find(run.manifests, "StatefulSet", NAMES.postgres), "postgres").env ?? []).find(
      (e) => e.name === "WAL_S3_BUCKET",
    )?.value;
    expect(clone.WALG_S3_PREFIX).toBe(`s3://${bucket}/${walPrefix()}`);
    expect(Object.keys(clone)).not.toContain("AWS_ROLE_ARN");
    const files = mountedConfigMapFiles(run.manifests, podOf(run.manifests).spec, "postgres");
    expect(walgCredentials(walgEnv(clone), files, "/home/postgres").kind).toBe("web-identity");
    const method = spilo.patroni.bootstrap.method;
    expect(method).toBe("clone_with_wale");
    expect(spilo.patroni.bootstrap.clone_with_wale?.recovery_conf.recovery_target_time).toBe(
      "2026-11-20 10:00:00+00:00",
    );
  });
});
