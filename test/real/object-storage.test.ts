/**
 * n8n's binary and execution data in S3 (issue 15, item 5), checked by n8n's own code:
 * - support/n8n-object-store.cjs runs the object store of the installed n8n 2.40.7 (@n8n/config
 *   reads the env, ObjectStoreService checks the bucket as n8n's start does, then the binary-data
 *   manager and the execution-data store write, read and prune) with the rendered container env,
 *   against s3rver. With provider aws and IRSA, a stand-in STS on loopback answers
 *   AssumeRoleWithWebIdentity and records what the AWS SDK inside n8n sent. The only substitutions
 *   are endpoints (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_STS, s3rver's host), the token file's mount
 *   path, and the values of Secrets the stack names.
 * - n8n 2.40.7 itself exits at start in an s3 mode without a licence: the config rule's reason.
 * - The IAM policy lists every S3 command n8n's object store sends (read off the installed source).
 * The licensed path of a whole n8n process storing a workflow's binary data in S3 cannot run here:
 * there is no Enterprise licence on this machine.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OBJECT_STORAGE } from "../../components/kubernetes/names";
import { N8N_S3_COMMANDS } from "../../components/n8n/storage";
import type { Manifest } from "../../render/manifests";
import { type Cluster, startCluster } from "../../support/cluster";
import { N8N, NODE } from "../../support/n8n";
import { type S3, S3RVER_KEYS, startS3 } from "../../support/s3";
import {
  CACHE,
  containerOf,
  find,
  freePort,
  N8N_VERSION,
  removeDir,
  resolveEnv,
  runCommand,
  scratchDir,
  stopAll,
  writeFile,
} from "../../support/servers";
import { findManifest, IRSA_ARCHIVE, ROOT, runProgram } from "../harness";

const N8N_MODULES = join(CACHE, `n8n-${N8N_VERSION}`, "node_modules");
const N8N_PACKAGE = join(N8N_MODULES, "n8n", "package.json");
const DRIVER = join(ROOT, "support", "n8n-object-store.cjs");
const BUCKET = "n8n-data";
const LICENSE = { name: "n8n-license", key: "activation-key" };
const TOKEN = "projected-service-account-token-for-sts";

interface DriverResult {
  endpoint: string | null;
  bucket: string;
  fileId: string;
  roundTrip: boolean;
  metadata: { fileName?: string; mimeType?: string; fileSize?: number };
  bundleRead: boolean;
  stored: string[];
  afterPrune: string[];
  afterFileDelete: string[];
}

/**
 * n8n's object-store code with a container's env (plus the test's substitutions). Asynchronous: the
 * stand-in STS answers from this process, so the test must not block while the driver runs.
 */
async function runDriver(env: Record<string, string>) {
  const run = await runCommand(NODE, [DRIVER, N8N_PACKAGE], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    timeoutMs: 120_000,
  });
  const line = run.stdout.split("\n").find((l) => l.startsWith("RESULT "));
  return {
    status: run.code,
    output: `${run.stdout}\n${run.stderr}`,
    result: line ? (JSON.parse(line.slice("RESULT ".length)) as DriverResult) : undefined,
  };
}

/** A worker's n8n container env, as the kubelet builds it from the render, on a scratch user folder. */
function workerEnv(list: Manifest[], dir: string, overrides: Record<string, string> = {}) {
  const c = containerOf(find(list, "Deployment", "n8n-worker"), "n8n");
  return resolveEnv(c, { HOME: dir, N8N_USER_FOLDER: dir, ...overrides }, list);
}

/** The stand-in STS: answers AssumeRoleWithWebIdentity with s3rver's keys and records each request. */
async function startSts() {
  const requests: URLSearchParams[] = [];
  const server: HttpServer = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      requests.push(new URLSearchParams(body));
      res.setHeader("content-type", "text/xml");
      res.end(
        `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>${S3RVER_KEYS.AWS_ACCESS_KEY_ID}</AccessKeyId><SecretAccessKey>${S3RVER_KEYS.AWS_SECRET_ACCESS_KEY}</SecretAccessKey><SessionToken>session-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/n8n/n8n</Arn><AssumedRoleId>AROATEST:n8n</AssumedRoleId></AssumedRoleUser></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
      );
    });
  });
  const port = await freePort();
  await new Promise<void>((done) => server.listen(port, "127.0.0.1", done));
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((done) => server.close(done)) };
}

let s3: S3;
let sts: Awaited<ReturnType<typeof startSts>>;
const dirs: string[] = [];
const scratch = (name: string) => {
  const d = scratchDir(name);
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  s3 = await startS3([BUCKET]);
  sts = await startSts();
});

afterAll(async () => {
  await sts?.close();
  await stopAll();
  for (const d of dirs) removeDir(d);
});

describe("n8n's object store with the rendered env", () => {
  it("s3-compatible: n8n checks the bucket, stores and reads binary and execution data; pruning leaves binary data to the lifecycle", async () => {
    const host = new URL(s3.endpoint).host;
    const run = await runProgram("objcompat", {
      domain: "n8n.example.com",
      n8n: {
        license: LICENSE,
        binaryData: { mode: "s3" },
        executionData: { mode: "s3" },
        objectStorage: {
          provider: "s3-compatible",
          bucketName: BUCKET,
          host,
          protocol: "http",
          accessKey: { name: "s3-keys", key: "access-key" },
          secretKey: { name: "s3-keys", key: "secret-key" },
          cidrs: ["127.0.0.1/32"],
        },
      },
    });
    const dir = scratch("n8n-objects");
    // The Secret the stack names holds s3rver's keys here.
    const env = workerEnv(run.manifests, dir, {
      N8N_EXTERNAL_STORAGE_S3_ACCESS_KEY: S3RVER_KEYS.AWS_ACCESS_KEY_ID,
      N8N_EXTERNAL_STORAGE_S3_ACCESS_SECRET: S3RVER_KEYS.AWS_SECRET_ACCESS_KEY,
    });
    expect(env.N8N_EXTERNAL_STORAGE_S3_HOST).toBe(host);
    const { status, output, result } = await runDriver(env);
    expect(status, output).toBe(0);
    expect(result?.endpoint).toBe(s3.endpoint);
    expect(result?.roundTrip).toBe(true);
    expect(result?.metadata).toMatchObject({ fileName: "a b.txt", mimeType: "text/plain" });
    expect(result?.bundleRead).toBe(true);
    expect(result?.stored).toEqual([result?.fileId, "workflows/wf-objects/executions/42/execution_data/bundle.json"]);
    // n8n's pruning deletes the execution's data bundle but not its binary data (n8n's S3 store
    // has no prefix delete): the bucket's lifecycle has to, hence expireDays.
    expect(result?.afterPrune).toEqual([result?.fileId]);
    expect(result?.afterFileDelete).toEqual([]);

    // Control: a bucket that is not there fails n8n's start check.
    const missing = await runDriver({ ...env, N8N_EXTERNAL_STORAGE_S3_BUCKET_NAME: "no-such-bucket" });
    expect(missing.status).toBe(1);
    expect(missing.output).toContain("Failed to connect to S3");
  });

  it("aws with irsa: the AWS SDK in n8n assumes the rendered role with the projected token, then n8n stores", async () => {
    const run = await runProgram("objirsa", {
      domain: "n8n.example.com",
      n8n: { license: LICENSE, binaryData: { mode: "s3" }, objectStorage: { bucketName: BUCKET } },
      postgres: { archive: IRSA_ARCHIVE },
    });
    const map = findManifest(run, "ConfigMap", OBJECT_STORAGE.configMap.name).data as Record<string, string>;
    expect(map.bucket).toBe(BUCKET);
    const dir = scratch("n8n-objects-irsa");
    const token = join(dir, "token");
    writeFile(token, TOKEN);
    const substitutions = {
      AWS_WEB_IDENTITY_TOKEN_FILE: token,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_STS: sts.url,
    };
    const env = workerEnv(run.manifests, dir, substitutions);
    expect(env.AWS_ROLE_ARN).toBe(map["role-arn"]);
    const before = sts.requests.length;
    const { status, output, result } = await runDriver(env);
    expect(status, output).toBe(0);
    expect(result?.roundTrip).toBe(true);
    const calls = sts.requests.slice(before);
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(Object.fromEntries(calls[0] ?? [])).toMatchObject({
      Action: "AssumeRoleWithWebIdentity",
      RoleArn: map["role-arn"],
      RoleSessionName: "n8n",
      WebIdentityToken: TOKEN,
    });

    // Control: without AUTH_AUTO_DETECT n8n passes its (empty) static keys and never asks STS.
    const { N8N_EXTERNAL_STORAGE_S3_AUTH_AUTO_DETECT: _, ...noDetect } = env;
    const count = sts.requests.length;
    await runDriver(noDetect);
    expect(sts.requests.length).toBe(count);
  });

  it("the IAM policy allows every S3 command n8n's object store sends", () => {
    const source = readFileSync(
      join(N8N_MODULES, "@n8n", "blob-storage", "dist", "object-store", "object-store.service.ee.js"),
      "utf8",
    );
    const sent = [...new Set([...source.matchAll(/client_s3_1\.(\w+Command)\b/g)].map((m) => m[1]))].sort();
    expect(sent.length).toBeGreaterThan(3);
    expect(sent).toEqual(Object.keys(N8N_S3_COMMANDS).sort());
  });
});

describe("n8n's licence gate (why an s3 mode needs n8n.license)", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    const run = await runProgram("objlicence", {
      domain: "n8n.example.com",
      n8n: { license: LICENSE, binaryData: { mode: "s3" }, objectStorage: { bucketName: BUCKET } },
    });
    cluster = await startCluster({ stack: "staging", workflows: [], release: { list: run.manifests, bin: N8N } });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  /** `n8n start` with the rendered main's env and no licence (nothing to activate here): its exit and output. */
  async function startUnlicensed(overrides: Record<string, string>) {
    const { N8N_LICENSE_ACTIVATION_KEY: _, ...env } = await cluster.cliEnv({
      ...S3RVER_KEYS,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      ...overrides,
    });
    const r = spawnSync(NODE, [N8N, "start"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", ...env },
      timeout: 240_000,
    });
    return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
  }

  it("binary data: n8n exits at start without a licence", async () => {
    const r = await startUnlicensed({});
    expect(r.status).toBe(1);
    expect(r.output).toContain("S3 binary data storage requires a valid license");
  });

  it("execution data: the same", async () => {
    const r = await startUnlicensed({
      N8N_DEFAULT_BINARY_DATA_MODE: "database",
      N8N_EXECUTION_DATA_STORAGE_MODE: "s3",
    });
    expect(r.status).toBe(1);
    expect(r.output).toContain("S3 execution data storage requires a valid license");
  });
  it("reading needs no licence: with the storage retained and both modes database, n8n starts and sets up the S3 store", async () => {
    const retained = await runProgram("objretain", {
      domain: "n8n.example.com",
      n8n: { objectStorage: { retain: true, bucketName: BUCKET } },
    });
    const pod = await cluster.start(
      "main",
      {
        N8N_EXTERNAL_STORAGE_S3_ACCESS_KEY: S3RVER_KEYS.AWS_ACCESS_KEY_ID,
        N8N_EXTERNAL_STORAGE_S3_ACCESS_SECRET: S3RVER_KEYS.AWS_SECRET_ACCESS_KEY,
        AWS_ENDPOINT_URL_S3: s3.endpoint,
      },
      { list: retained.manifests, bin: N8N },
    );
    expect(pod.server.output.join("\n")).toContain(`S3 binary storage configured: endpoint=default, bucket=${BUCKET}`);
    await cluster.terminate(pod);
  });
});
