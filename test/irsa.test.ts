/**
 * IRSA as the consumers see it: the rendered prod pods, after the EKS pod-identity webhook has had
 * its say, must give WAL-G (inside Spilo) and boto3 (the dump job) a web identity they can use. The
 * models in aws-credentials.ts are read off the webhook's, WAL-G's and the AWS SDK's source; the
 * real Spilo script runs against the same render in test/real/spilo.test.ts (support/spilo.ts).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { NAMES } from "../components/kubernetes/names";
import type { StackRun } from "../render/run";
import { mountedConfigMapFiles } from "../support/kubelet";
import {
  botoCredentials,
  envOf,
  isProjectedStsToken,
  type ModelPod,
  podIdentityWebhook,
  walgCredentials,
} from "./aws-credentials";
import { findManifest, podsOf, runStackFile } from "./harness";

const HOME = "/home/postgres";

function pod(run: StackRun, kind: string, name: string): ModelPod {
  const p = podsOf(run.manifests).find((x) => x.owner.kind === kind && x.owner.metadata.name === name);
  if (!p) throw new Error(`no ${kind}/${name}`);
  return p.spec as unknown as ModelPod;
}

function afterWebhook(run: StackRun, p: ModelPod): ModelPod {
  const sa = findManifest(run, "ServiceAccount", p.serviceAccountName as string);
  const annotations = (sa.metadata.annotations as Record<string, string> | undefined) ?? {};
  // EKS runs the webhook with the cluster's region and regional STS on.
  return podIdentityWebhook(p, annotations, { region: "eu-west-1", regionalSts: true });
}

/** A pattern for the ARN of the IAM role whose trust names this ServiceAccount (its name, auto-suffixed). */
function roleFor(run: StackRun, serviceAccount: string): RegExp {
  const role = run.resources.find(
    (r) => r.type === "aws:iam/role:Role" && (r.inputs.assumeRolePolicy as string).includes(`:${serviceAccount}"`),
  );
  if (!role) throw new Error(`no role for ${serviceAccount}`);
  return new RegExp(`^arn:aws:iam::\\d{12}:role/${role.name}-[0-9a-f]+$`);
}

describe("IRSA in prod: every backup writer authenticates", () => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStackFile("prod");
  });

  it("WAL-G in Spilo gets a web identity with its role and the projected sts.amazonaws.com token", () => {
    const spilo = afterWebhook(run, pod(run, "StatefulSet", NAMES.postgres));
    const c = spilo.containers.find((x) => x.name === "postgres");
    if (!c) throw new Error("no postgres container");
    // Spilo's envdir takes AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE from the container env, so
    // neither may be there, whatever the webhook does.
    expect(Object.keys(envOf(c)).filter((n) => /^AWS_(ROLE_ARN|WEB_IDENTITY_TOKEN_FILE)$/.test(n))).toEqual([]);
    const creds = walgCredentials(
      { AWS_REGION: envOf(c).AWS_REGION as string },
      mountedConfigMapFiles(run.manifests, spilo, c.name),
      HOME,
    );
    expect(creds).toMatchObject({
      kind: "web-identity",
      roleArn: expect.stringMatching(roleFor(run, NAMES.postgresServiceAccount)),
    });
    if (creds.kind !== "web-identity") return;
    expect(isProjectedStsToken(spilo, c, creds.tokenFile)).toBe(true);
  });

  it("the dump job's boto3 gets a web identity with the dump role and the projected token", () => {
    const dump = afterWebhook(run, pod(run, "CronJob", NAMES.postgresDump));
    const c = dump.containers[0];
    if (!c) throw new Error("no dump container");
    const creds = botoCredentials(envOf(c));
    expect(creds).toMatchObject({
      kind: "web-identity",
      roleArn: expect.stringMatching(roleFor(run, NAMES.postgresDump)),
    });
    if (creds.kind === "web-identity") expect(isProjectedStsToken(dump, c, creds.tokenFile)).toBe(true);
  });

  it("the model catches the old render: env AWS_ROLE_ARN + region + regional STS on an annotated ServiceAccount", () => {
    const old: ModelPod = {
      serviceAccountName: "n8n-postgres",
      containers: [
        {
          name: "dump",
          env: [
            { name: "AWS_ROLE_ARN", value: "arn:aws:iam::1:role/r" },
            { name: "AWS_REGION", value: "eu-west-1" },
            { name: "AWS_STS_REGIONAL_ENDPOINTS", value: "regional" },
          ],
        },
      ],
    };
    const mutated = podIdentityWebhook(old, { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r" });
    const c = mutated.containers[0] as (typeof mutated.containers)[number];
    // The webhook skipped the container: no token variable, no mount.
    expect(botoCredentials(envOf(c)).kind).toBe("none");
    // And WAL-G 3.0.5 with AWS_ROLE_ARN in its envdir fails even when the token is there.
    expect(
      walgCredentials(
        {
          AWS_ROLE_ARN: "arn:aws:iam::1:role/r",
          AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        },
        {},
        HOME,
      ),
    ).toMatchObject({ kind: "none", reason: expect.stringMatching(/AssumeRole/) });
  });
});

describe("static keys in staging", () => {
  it("WAL-G and the dump job read the keys from the Secret; no token is projected", async () => {
    const run = await runStackFile("staging");
    const spilo = pod(run, "StatefulSet", NAMES.postgres);
    const c = spilo.containers.find((x) => x.name === "postgres");
    if (!c) throw new Error("no postgres container");
    expect(walgCredentials(envOf(c), mountedConfigMapFiles(run.manifests, spilo, c.name), HOME)).toEqual({
      kind: "static",
    });
    expect(spilo.volumes?.some((v) => v.projected)).toBe(false);
    const dump = pod(run, "CronJob", NAMES.postgresDump).containers[0];
    expect(botoCredentials(envOf(dump as NonNullable<typeof dump>))).toEqual({ kind: "static" });
  });
});
