/**
 * The stand-in provider plugins (support/engine/providers), without the Pulumi CLI: their provider
 * objects driven directly against a real moto server, every result read back with boto3 (the real
 * AWS SDK in moto's own environment, so the check does not share the stand-in's client code), and
 * the two executables spoken to over gRPC as the engine speaks to them.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bucketLifecycleRules, irsaTrustPolicy, policyDocument, tlsOnlyBucketPolicy } from "../../components/aws/s3";
import { provider as aws } from "../../support/engine/providers/aws";
import { s3 } from "../../support/engine/providers/aws-api";
import { bcryptVerify, bcryptWithSalt } from "../../support/engine/providers/bcrypt";
import type { Props } from "../../support/engine/providers/plugin";
import { generatePassword, provider as random } from "../../support/engine/providers/random";
import { CACHE, freePort, ROOT, removeDir, Server, scratchDir, stopAll, waitFor } from "../../support/servers";

/** moto as scripts/engine-setup.sh installs it (its MOTO_VERSION pin). */
const MOTO_VERSION = /^MOTO_VERSION=(\S+)$/m.exec(readFileSync(join(ROOT, "scripts", "engine-setup.sh"), "utf8"))?.[1];
const MOTO_HOME = join(process.env.ENGINE_CACHE ?? join(CACHE, "engine"), `moto-${MOTO_VERSION}`);
const PLUGINS = join(ROOT, "support", "engine", "providers", "bin");
const REGION = "eu-central-1";
const SECRET = { [specialSigKey]: specialSecretSig };

let moto: Server;
let motoDir: string;
let endpoint: string;

beforeAll(async () => {
  const port = await freePort();
  motoDir = scratchDir("moto");
  moto = new Server("moto", join(MOTO_HOME, "bin", "moto_server"), ["-H", "127.0.0.1", "-p", String(port)], {
    cwd: motoDir,
  });
  endpoint = `http://127.0.0.1:${port}`;
  process.env.STANDIN_AWS_ENDPOINT = endpoint;
  await waitFor(
    "moto",
    async () => {
      if (!moto.alive) throw new Error(`moto exited: ${moto.output.join("\n")}`);
      return (await fetch(`${endpoint}/moto-api/`)).ok || undefined;
    },
    30_000,
    250,
  );
}, 45_000);

afterAll(async () => {
  await stopAll();
  removeDir(motoDir);
}, 30_000);

type BotoCall = [service: "s3" | "iam", method: string, params: Record<string, unknown>];

/** boto3 calls against moto: each result without ResponseMetadata, or {Error: {Code, Message}}. */
function boto(...calls: BotoCall[]): Props[] {
  const script = `
import json, sys, boto3
from botocore.config import Config
from botocore.exceptions import ClientError
a = json.loads(sys.argv[1])
def client(service):
    return boto3.client(service, region_name=a["region"], endpoint_url=a["endpoint"],
        aws_access_key_id="test", aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}))
clients = {"s3": client("s3"), "iam": client("iam")}
out = []
for service, method, params in a["calls"]:
    try:
        r = getattr(clients[service], method)(**params)
        r.pop("ResponseMetadata", None)
        out.append(r)
    except ClientError as e:
        out.append({"Error": e.response["Error"]})
print(json.dumps(out, default=str))
`;
  const run = spawnSync(
    join(MOTO_HOME, "bin", "python3"),
    ["-c", script, JSON.stringify({ endpoint, region: REGION, calls })],
    {
      encoding: "utf8",
      timeout: 60_000,
    },
  );
  if (run.status !== 0) throw new Error(`boto3 failed: ${run.stderr || run.error}`);
  return JSON.parse(run.stdout) as Props[];
}

const urnOf = (token: string, name: string) => `urn:pulumi:test::n8n-cluster::${token}::${name}`;

interface Made {
  urn: string;
  id: string;
  inputs: Props;
  outs: Props;
}

type StandIn = typeof aws;

/** check + create, as the engine runs them for a new resource. */
async function make(p: StandIn, token: string, name: string, news: Props): Promise<Made> {
  const urn = urnOf(token, name);
  const checked = await p.check(urn, {}, news);
  expect(checked.failures).toEqual([]);
  const inputs = checked.inputs as Props;
  const { id, outs } = await p.create(urn, inputs);
  return { urn, id, inputs, outs };
}

/** The diff of new inputs against a resource's state, after check (as the engine runs them). */
async function diffOf(p: StandIn, r: Made, news: Props) {
  const checked = await p.check(r.urn, r.inputs, news);
  return p.diff(r.id, r.urn, r.outs, checked.inputs as Props);
}

const plain = (v: unknown) => (v as { value: unknown }).value;

describe("bcrypt", () => {
  it("matches golang.org/x/crypto/bcrypt's test vectors", () => {
    // bcrypt_test.go: TestBcryptingIsCorrect, TestTooLongPasswordsWork, TestNoSideEffectsFromCompare.
    expect(bcryptWithSalt("allmine", "XajjQvNhvvRt5GSeFk1xFe")).toBe(
      "$2a$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga",
    );
    expect(bcryptWithSalt("012345678901234567890123456789012345678901234567890123456", "XajjQvNhvvRt5GSeFk1xFe")).toBe(
      "$2a$10$XajjQvNhvvRt5GSeFk1xFe5l47dONXg781AmZtd869sO8zfsHuw7C",
    );
    expect(bcryptVerify("passw0rd", "$2a$10$LK9XRuhNxHHCvjX3tdkRKei1QiCDUKrJRhZv7WWZPuQGRUM92rOUa")).toBe(true);
    expect(bcryptVerify("passw0rd!", "$2a$10$LK9XRuhNxHHCvjX3tdkRKei1QiCDUKrJRhZv7WWZPuQGRUM92rOUa")).toBe(false);
  });
});

describe("random: RandomPassword", () => {
  const token = "random:index/randomPassword:RandomPassword";
  // What components/secrets.ts asks for.
  const args = { length: 32, special: false, minLower: 4, minUpper: 4, minNumeric: 4 };

  it("obeys length, the minimums and special=false; bcryptHash verifies against result; both are secrets", async () => {
    const r = await make(random, token, "pw", args);
    expect(r.id).toBe("none");
    expect(r.inputs).toMatchObject({ ...args, upper: true, lower: true, numeric: true, number: true, minSpecial: 0 });
    expect(r.outs.result).toMatchObject(SECRET);
    expect(r.outs.bcryptHash).toMatchObject(SECRET);
    const result = plain(r.outs.result) as string;
    const hash = plain(r.outs.bcryptHash) as string;
    expect(result).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(result.replace(/[^a-z]/g, "").length).toBeGreaterThanOrEqual(4);
    expect(result.replace(/[^A-Z]/g, "").length).toBeGreaterThanOrEqual(4);
    expect(result.replace(/[^0-9]/g, "").length).toBeGreaterThanOrEqual(4);
    expect(hash).toMatch(/^\$2a\$10\$/);
    expect(bcryptVerify(result, hash)).toBe(true);
    expect(bcryptVerify(`${result}x`, hash)).toBe(false);
  });

  it("keeps the minimums in every draw, also with the sets they come from switched off", () => {
    for (let i = 0; i < 200; i++) {
      const p = generatePassword({
        length: 12,
        upper: false,
        lower: true,
        numeric: false,
        special: false,
        minUpper: 3,
        minLower: 0,
        minNumeric: 3,
        minSpecial: 0,
      });
      expect(p).toHaveLength(12);
      expect(p.replace(/[^A-Z]/g, "").length).toBeGreaterThanOrEqual(3);
      expect(p.replace(/[^0-9]/g, "").length).toBeGreaterThanOrEqual(3);
    }
  });

  it("refuses a length below the sum of the minimums", async () => {
    const checked = await random.check(
      urnOf(token, "short"),
      {},
      { length: 8, minLower: 4, minUpper: 4, minNumeric: 4 },
    );
    expect(checked.failures?.map((f) => f.property)).toEqual(["length"]);
  });

  it("replaces on a change of any input, and an update keeps the password", async () => {
    const r = await make(random, token, "pw2", args);
    expect(await diffOf(random, r, args)).toMatchObject({ changes: false, replaces: [] });
    expect(await diffOf(random, r, { ...args, length: 40 })).toMatchObject({ changes: true, replaces: ["length"] });
    expect((await diffOf(random, r, { ...args, special: true })).replaces).toEqual(["special"]);
    expect((await diffOf(random, r, { ...args, keepers: { rotate: "1" } })).replaces).toEqual(["keepers"]);
    const { outs } = await random.update(r.id, r.urn, r.outs, r.inputs);
    expect(plain(outs.result)).toBe(plain(r.outs.result));
  });
});

describe("aws: S3", () => {
  beforeAll(async () => {
    await aws.configure({ region: REGION, version: "7.48.0", skipCredentialsValidation: "true" });
  });

  it("creates a secure bucket as components/aws/s3.ts declares it, and moto holds every part of it", async () => {
    const tags = { "n8n-cluster/stack": "test" };
    const b = await make(aws, "aws:s3/bucket:Bucket", "backups", {
      bucketPrefix: "n8n-backups-",
      objectLockEnabled: true,
      forceDestroy: false,
      tags,
    });
    // The real provider's name: the prefix and 26 characters (id.PrefixedUniqueId).
    expect(b.id).toMatch(/^n8n-backups-\d{18}[0-9a-f]{8}$/);
    expect(b.outs).toMatchObject({
      id: b.id,
      bucket: b.id,
      arn: `arn:aws:s3:::${b.id}`,
      region: REGION,
      bucketRegionalDomainName: `${b.id}.s3.${REGION}.amazonaws.com`,
    });
    const bucket = { bucket: b.id };
    const policy = JSON.stringify(tlsOnlyBucketPolicy(b.outs.arn as string));
    const rules = bucketLifecycleRules({ noncurrentDays: 30, expireDays: 90 });
    const parts = {
      ownership: [
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        { rule: { objectOwnership: "BucketOwnerEnforced" } },
      ],
      publicAccess: [
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      ],
      versioning: ["aws:s3/bucketVersioning:BucketVersioning", { versioningConfiguration: { status: "Enabled" } }],
      encryption: [
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: false }] },
      ],
      policy: ["aws:s3/bucketPolicy:BucketPolicy", { policy }],
      lifecycle: ["aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", { rules }],
      objectLock: [
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        { objectLockEnabled: "Enabled", rule: { defaultRetention: { mode: "GOVERNANCE", days: 7 } } },
      ],
    } as const;
    const made: Record<string, Made> = {};
    for (const [name, [token, args]] of Object.entries(parts)) {
      made[name] = await make(aws, token, `backups-${name}`, { ...bucket, ...args });
      expect(made[name]?.id).toBe(b.id);
    }

    const Bucket = b.id;
    const [
      list,
      head,
      location,
      tagging,
      ownership,
      publicAccess,
      versioning,
      encryption,
      bucketPolicy,
      lifecycle,
      lock,
    ] = boto(
      ["s3", "list_buckets", {}],
      ["s3", "head_bucket", { Bucket }],
      ["s3", "get_bucket_location", { Bucket }],
      ["s3", "get_bucket_tagging", { Bucket }],
      ["s3", "get_bucket_ownership_controls", { Bucket }],
      ["s3", "get_public_access_block", { Bucket }],
      ["s3", "get_bucket_versioning", { Bucket }],
      ["s3", "get_bucket_encryption", { Bucket }],
      ["s3", "get_bucket_policy", { Bucket }],
      ["s3", "get_bucket_lifecycle_configuration", { Bucket }],
      ["s3", "get_object_lock_configuration", { Bucket }],
    );
    expect(((list as Props).Buckets as { Name: string }[]).map((x) => x.Name)).toContain(Bucket);
    expect(head).not.toHaveProperty("Error");
    expect(location).toEqual({ LocationConstraint: REGION });
    expect(tagging).toEqual({ TagSet: [{ Key: "n8n-cluster/stack", Value: "test" }] });
    expect(ownership).toMatchObject({ OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] } });
    expect(publicAccess).toEqual({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        IgnorePublicAcls: true,
        BlockPublicPolicy: true,
        RestrictPublicBuckets: true,
      },
    });
    expect(versioning).toMatchObject({ Status: "Enabled" });
    expect(encryption).toMatchObject({
      ServerSideEncryptionConfiguration: {
        Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
      },
    });
    expect(JSON.parse(bucketPolicy?.Policy as string)).toEqual(JSON.parse(policy));
    expect(lifecycle).toMatchObject({
      Rules: [
        {
          ID: "expire-old-versions",
          Status: "Enabled",
          NoncurrentVersionExpiration: { NoncurrentDays: 30 },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
          Expiration: { Days: 90 },
        },
      ],
    });
    expect(lock).toMatchObject({
      ObjectLockConfiguration: {
        ObjectLockEnabled: "Enabled",
        Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 7 } },
      },
    });

    // A refresh reads back what was declared: no drift against the same inputs.
    for (const r of [b, ...Object.values(made)]) {
      const read = await aws.read(r.id, r.urn, r.outs);
      expect(read.id).toBe(r.id);
      expect(await aws.diff(r.id, r.urn, read.props as Props, r.inputs), r.urn).toMatchObject({ changes: false });
    }

    // Deleting a configuration undoes it on the bucket.
    await aws.delete(b.id, made.lifecycle?.urn as string, made.lifecycle?.outs as Props);
    await aws.delete(b.id, made.encryption?.urn as string, made.encryption?.outs as Props);
    await aws.delete(b.id, made.versioning?.urn as string, made.versioning?.outs as Props);
    const [noLifecycle, noEncryption, suspended] = boto(
      ["s3", "get_bucket_lifecycle_configuration", { Bucket }],
      ["s3", "get_bucket_encryption", { Bucket }],
      ["s3", "get_bucket_versioning", { Bucket }],
    );
    expect(noLifecycle).toMatchObject({ Error: { Code: "NoSuchLifecycleConfiguration" } });
    expect(noEncryption).toMatchObject({ Error: { Code: "ServerSideEncryptionConfigurationNotFoundError" } });
    expect(suspended).toMatchObject({ Status: "Suspended" });
  }, 120_000);

  it("replaces a bucket only for bucket, bucketPrefix, objectLockEnabled (and region)", async () => {
    const args = { bucketPrefix: "n8n-diff-", objectLockEnabled: false, forceDestroy: false, tags: { a: "1" } };
    const b = await make(aws, "aws:s3/bucket:Bucket", "diff", args);
    expect(await diffOf(aws, b, args)).toMatchObject({ changes: false, replaces: [] });
    expect(await diffOf(aws, b, { ...args, bucketPrefix: "n8n-other-" })).toMatchObject({ replaces: ["bucketPrefix"] });
    expect(await diffOf(aws, b, { ...args, objectLockEnabled: true })).toMatchObject({
      replaces: ["objectLockEnabled"],
    });
    expect(await diffOf(aws, b, { ...args, tags: { a: "2" } })).toMatchObject({ changes: true, replaces: [] });
    expect(await diffOf(aws, b, { ...args, forceDestroy: true })).toMatchObject({ changes: true, replaces: [] });
    // A new name for a named bucket: delete first, the new one cannot take the name while the old exists.
    const named = await make(aws, "aws:s3/bucket:Bucket", "named", { bucket: "n8n-named-bucket", forceDestroy: false });
    expect(await diffOf(aws, named, { bucket: "n8n-named-bucket", objectLockEnabled: true })).toMatchObject({
      replaces: ["objectLockEnabled"],
      deleteBeforeReplace: true,
    });

    const versioning = await make(aws, "aws:s3/bucketVersioning:BucketVersioning", "diff-versioning", {
      bucket: b.id,
      versioningConfiguration: { status: "Enabled" },
    });
    expect(
      await diffOf(aws, versioning, { bucket: b.id, versioningConfiguration: { status: "Suspended" } }),
    ).toMatchObject({ changes: true, replaces: [] });
    expect(
      await diffOf(aws, versioning, { bucket: "elsewhere", versioningConfiguration: { status: "Enabled" } }),
    ).toMatchObject({ replaces: ["bucket"] });

    // Updating tags is a real call.
    const { outs } = await aws.update(b.id, b.urn, b.outs, { ...b.inputs, tags: { a: "2" } });
    expect(outs.tags).toEqual({ a: "2" });
    expect(boto(["s3", "get_bucket_tagging", { Bucket: b.id }])[0]).toEqual({ TagSet: [{ Key: "a", Value: "2" }] });
  }, 60_000);

  it("surfaces S3's errors, and deletes a non-empty bucket only with forceDestroy", async () => {
    const b = await make(aws, "aws:s3/bucket:Bucket", "full", { bucket: "n8n-full-bucket", forceDestroy: false });
    await expect(make(aws, "aws:s3/bucket:Bucket", "again", { bucket: "n8n-full-bucket" })).rejects.toThrow(
      /creating S3 Bucket \(n8n-full-bucket\): BucketAlreadyOwnedByYou: /,
    );
    await s3({ method: "PUT", region: REGION, bucket: b.id, key: "wal/0001", body: "x", contentType: "text/plain" });
    await expect(aws.delete(b.id, b.urn, b.outs)).rejects.toThrow(
      /deleting S3 Bucket \(n8n-full-bucket\): BucketNotEmpty: /,
    );
    expect(boto(["s3", "head_bucket", { Bucket: b.id }])[0]).not.toHaveProperty("Error");
    await aws.delete(b.id, b.urn, { ...b.outs, forceDestroy: true });
    expect(boto(["s3", "head_bucket", { Bucket: b.id }])[0]).toMatchObject({ Error: { Code: "404" } });
  }, 60_000);
});

describe("aws: IAM", () => {
  beforeAll(async () => {
    await aws.configure({ region: REGION });
  });

  const grant = (arn: string) =>
    JSON.stringify(policyDocument({ Effect: "Allow", Action: "s3:GetObject", Resource: `${arn}/*` }));

  it("creates an IRSA role with its policy, and a user with its policy and access key, in moto", async () => {
    const trust = JSON.stringify(
      irsaTrustPolicy("arn:aws:iam::123456789012:oidc-provider/oidc.example", "oidc.example", "n8n", "n8n-walg"),
    );
    const role = await make(aws, "aws:iam/role:Role", "n8n-walg-role", { assumeRolePolicy: trust, tags: { a: "1" } });
    // Neither name nor namePrefix: the bridge's auto-name.
    expect(role.id).toMatch(/^n8n-walg-role-[0-9a-f]{7}$/);
    expect(role.outs).toMatchObject({ name: role.id, arn: `arn:aws:iam::123456789012:role/${role.id}` });
    const rolePolicy = await make(aws, "aws:iam/rolePolicy:RolePolicy", "n8n-walg-role-policy", {
      role: role.id,
      policy: grant("arn:aws:s3:::b"),
    });
    expect(rolePolicy.id).toBe(`${role.id}:${rolePolicy.outs.name}`);

    const user = await make(aws, "aws:iam/user:User", "n8n-user", { tags: { a: "1" } });
    const userPolicy = await make(aws, "aws:iam/userPolicy:UserPolicy", "n8n-walg-policy", {
      user: user.outs.name,
      policy: grant("arn:aws:s3:::b"),
    });
    const key = await make(aws, "aws:iam/accessKey:AccessKey", "n8n-key", { user: user.outs.name });
    expect(key.outs.secret).toMatchObject(SECRET);
    expect(key.outs.sesSmtpPasswordV4).toMatchObject(SECRET);
    expect(key.outs.status).toBe("Active");

    const [getRole, getRolePolicy, getUser, getUserPolicy, keys] = boto(
      ["iam", "get_role", { RoleName: role.id }],
      ["iam", "get_role_policy", { RoleName: role.id, PolicyName: rolePolicy.outs.name }],
      ["iam", "get_user", { UserName: user.id }],
      ["iam", "get_user_policy", { UserName: user.id, PolicyName: userPolicy.outs.name }],
      ["iam", "list_access_keys", { UserName: user.id }],
    );
    expect(getRole).toMatchObject({ Role: { RoleName: role.id, Arn: role.outs.arn, RoleId: role.outs.uniqueId } });
    expect(((getRole as Props).Role as Props).AssumeRolePolicyDocument).toEqual(JSON.parse(trust));
    expect(getRolePolicy).toMatchObject({ PolicyDocument: JSON.parse(grant("arn:aws:s3:::b")) });
    expect(getUser).toMatchObject({
      User: { UserName: user.id, Arn: user.outs.arn, Tags: [{ Key: "a", Value: "1" }] },
    });
    expect(getUserPolicy).toMatchObject({ PolicyDocument: JSON.parse(grant("arn:aws:s3:::b")) });
    expect(keys).toMatchObject({ AccessKeyMetadata: [{ AccessKeyId: key.id, Status: "Active" }] });

    // A refresh reads back what was declared.
    for (const r of [role, rolePolicy, user, userPolicy, key]) {
      const read = await aws.read(r.id, r.urn, r.outs);
      expect(await aws.diff(r.id, r.urn, read.props as Props, r.inputs), r.urn).toMatchObject({ changes: false });
    }

    // A new trust policy updates in place; a new path replaces.
    const newTrust = JSON.stringify(
      irsaTrustPolicy("arn:aws:iam::123456789012:oidc-provider/o2", "o2", "n8n", "n8n-walg"),
    );
    expect(await diffOf(aws, role, { assumeRolePolicy: newTrust, tags: { a: "1" } })).toMatchObject({
      changes: true,
      replaces: [],
    });
    expect(await diffOf(aws, role, { assumeRolePolicy: trust, tags: { a: "1" }, path: "/n8n/" })).toMatchObject({
      replaces: ["path"],
    });
    const checked = (await aws.check(role.urn, role.inputs, { assumeRolePolicy: newTrust, tags: { b: "2" } }))
      .inputs as Props;
    expect(checked.name).toBe(role.id);
    await aws.update(role.id, role.urn, role.outs, checked);
    // The access key: a new user replaces it, a new status updates it.
    expect(await diffOf(aws, key, { user: "someone-else" })).toMatchObject({ replaces: ["user"] });
    await aws.update(key.id, key.urn, key.outs, { ...key.inputs, status: "Inactive" });
    const [updatedRole, inactive] = boto(
      ["iam", "get_role", { RoleName: role.id }],
      ["iam", "list_access_keys", { UserName: user.id }],
    );
    expect(((updatedRole as Props).Role as Props).AssumeRolePolicyDocument).toEqual(JSON.parse(newTrust));
    expect(((updatedRole as Props).Role as Props).Tags).toEqual([{ Key: "b", Value: "2" }]);
    expect(inactive).toMatchObject({ AccessKeyMetadata: [{ AccessKeyId: key.id, Status: "Inactive" }] });

    // IAM's errors come back with AWS's message.
    await expect(aws.create(urnOf("aws:iam/role:Role", "twin"), { ...role.inputs, name: role.id })).rejects.toThrow(
      new RegExp(`creating IAM Role \\(${role.id}\\): EntityAlreadyExists: `),
    );

    // Deletes, in the engine's order (dependents first).
    for (const r of [key, userPolicy, user, rolePolicy, role]) await aws.delete(r.id, r.urn, r.outs);
    const gone = boto(["iam", "get_role", { RoleName: role.id }], ["iam", "get_user", { UserName: user.id }]);
    for (const g of gone) expect(g).toMatchObject({ Error: { Code: "NoSuchEntity" } });
  }, 90_000);
});

// ---- the executables, over gRPC ----

function rpc<T>(invoke: (callback: (err: grpc.ServiceError | null, res: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

/** Starts a plugin executable as the engine does and connects to the port it prints. */
async function plugin(name: string, env: Record<string, string> = {}): Promise<provrpc.ResourceProviderClient> {
  const server = new Server(name, join(PLUGINS, name), [], {
    env: { PATH: [dirname(process.execPath), process.env.PATH ?? "/usr/bin:/bin"].join(":"), ...env },
  });
  const port = await waitFor(
    `${name} to print its port`,
    () => server.output.find((l) => /^\d+$/.test(l)),
    30_000,
    100,
  );
  // The port must be all the plugin prints on stdout.
  expect(server.output[0]).toBe(port);
  return new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

const struct = (v: Props) => Struct.fromJavaScript(v as Parameters<typeof Struct.fromJavaScript>[0]);

function checkRequest(urn: string, news: Props): provproto.CheckRequest {
  const req = new provproto.CheckRequest();
  req.setUrn(urn);
  req.setOlds(struct({}));
  req.setNews(struct(news));
  return req;
}

function createRequest(urn: string, properties: Props): provproto.CreateRequest {
  const req = new provproto.CreateRequest();
  req.setUrn(urn);
  req.setProperties(struct(properties));
  return req;
}

describe("the plugin executables", () => {
  it("pulumi-resource-random reports the SDK's version and sends result and bcryptHash as secrets", async () => {
    const client = await plugin("pulumi-resource-random");
    const info = await rpc<{ getVersion(): string }>((cb) => client.getPluginInfo(new Empty(), cb));
    expect(info.getVersion()).toBe("4.21.2");
    const configured = await rpc<provproto.ConfigureResponse>((cb) =>
      client.configure(new provproto.ConfigureRequest().setArgs(struct({})), cb),
    );
    expect(configured.getAcceptsecrets()).toBe(true);
    const urn = urnOf("random:index/randomPassword:RandomPassword", "wire");
    const checked = await rpc<provproto.CheckResponse>((cb) =>
      client.check(checkRequest(urn, { length: 20, special: false }), cb),
    );
    const created = await rpc<provproto.CreateResponse>((cb) =>
      client.create(createRequest(urn, checked.getInputs()?.toJavaScript() as Props), cb),
    );
    const props = created.getProperties()?.toJavaScript() as Props;
    expect(props.result).toMatchObject(SECRET);
    expect(props.bcryptHash).toMatchObject(SECRET);
    expect(bcryptVerify(plain(props.result) as string, plain(props.bcryptHash) as string)).toBe(true);
    client.close();
  }, 60_000);

  it("pulumi-resource-aws serves CheckConfig and takes its region from Configure", async () => {
    const client = await plugin("pulumi-resource-aws", { STANDIN_AWS_ENDPOINT: endpoint });
    const info = await rpc<{ getVersion(): string }>((cb) => client.getPluginInfo(new Empty(), cb));
    expect(info.getVersion()).toBe("7.48.0");
    const providerUrn = urnOf("pulumi:providers:aws", "aws");
    const missing = await rpc<provproto.CheckResponse>((cb) => client.checkConfig(checkRequest(providerUrn, {}), cb));
    expect(missing.getFailuresList().map((f) => f.getProperty())).toEqual(["region"]);
    const ok = await rpc<provproto.CheckResponse>((cb) =>
      client.checkConfig(checkRequest(providerUrn, { region: "eu-west-1", version: "7.48.0" }), cb),
    );
    expect(ok.getFailuresList()).toEqual([]);
    await rpc((cb) => client.configure(new provproto.ConfigureRequest().setArgs(struct({ region: "eu-west-1" })), cb));
    const urn = urnOf("aws:s3/bucket:Bucket", "wire");
    const checked = await rpc<provproto.CheckResponse>((cb) =>
      client.check(checkRequest(urn, { bucketPrefix: "n8n-wire-", forceDestroy: false }), cb),
    );
    const created = await rpc<provproto.CreateResponse>((cb) =>
      client.create(createRequest(urn, checked.getInputs()?.toJavaScript() as Props), cb),
    );
    expect(boto(["s3", "get_bucket_location", { Bucket: created.getId() }])[0]).toEqual({
      LocationConstraint: "eu-west-1",
    });
    // moto's error is the resource's error.
    await expect(
      rpc((cb) => client.create(createRequest(urn, { bucket: created.getId(), forceDestroy: false }), cb)),
    ).rejects.toThrow(/BucketAlreadyOwnedByYou/);
    client.close();
  }, 60_000);
});
