import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { KEY_SOURCE_ANNOTATION as PROGRAM_ANNOTATION } from "../components/kubernetes/names";
import {
  bucketsSecure,
  containerResources,
  defaultDeny,
  encryptionKeySecretSource,
  hpaSane,
  ingressTls,
  isPinnedImage,
  KEY_SOURCE_ANNOTATION,
  noExternalServices,
  pdbForReplicated,
  pinnedImages,
  podSecurityExemptions,
  podSecurityRestricted,
  podTemplateOf,
  policies,
  SCALED_OBJECT,
  secretEnvFromSecrets,
  singleMain,
  workloadProbes,
} from "../policies/policies";
import type { RecordedResource } from "../render/mocks";
import type { StackRun } from "../render/run";
import { ROOT, runProgram, runStackFile } from "./harness";
import { evaluatePack, type Violation, validateResource, validateStack } from "./policy-harness";

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";

/** A compliant Deployment (props as CrossGuard sees them); tests break one thing at a time. */
function deployment(
  overrides: { replicas?: number; container?: Record<string, unknown>; pod?: Record<string, unknown> } = {},
) {
  return {
    type: DEPLOYMENT,
    name: "app",
    inputs: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "app", namespace: "ns" },
      spec: {
        replicas: overrides.replicas ?? 1,
        template: {
          metadata: { labels: { app: "x" } },
          spec: {
            securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
            containers: [
              {
                name: "c",
                image: "docker.io/n8nio/n8n:2.40.7",
                args: ["start"],
                env: [{ name: "N8N_ENCRYPTION_KEY", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }],
                resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "1Gi" } },
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                readinessProbe: { httpGet: { path: "/healthz/readiness", port: 5678 } },
                livenessProbe: { httpGet: { path: "/healthz", port: 5678 } },
                ...overrides.container,
              },
            ],
            ...overrides.pod,
          },
        },
      },
    },
  };
}

describe("the pack", () => {
  it("has the sixteen required policies (plus the exemptions report), each described with remediation", () => {
    expect(policies.map((p) => p.name)).toEqual([
      "n8n-encryption-key-from-secret",
      "encryption-key-secret-source",
      "container-resources",
      "no-latest-images",
      "pod-security-restricted",
      "pod-security-exemptions",
      "workload-probes",
      "single-n8n-main",
      "hpa-sane",
      "s3-buckets-secure",
      "ingress-tls",
      "gateway-http-redirects",
      "namespace-default-deny",
      "pdb-for-replicated",
      "no-loadbalancer-or-nodeport",
      "autoscaler-targets",
      "n8n-encryption-key-shared",
    ]);
    for (const p of policies) {
      expect(p.description.length, p.name).toBeGreaterThan(30);
      expect(p.remediationSteps?.length, p.name).toBeGreaterThan(10);
    }
    expect(pdbForReplicated.enforcementLevel).toBe("advisory");
    expect(podSecurityExemptions.enforcementLevel).toBe("advisory");
  });

  it("the annotation it trusts is the one the program writes", () => {
    expect(KEY_SOURCE_ANNOTATION).toBe(PROGRAM_ANNOTATION);
  });
});

describe("resource policies: pass and violate", () => {
  it("1 encryption key only from a Secret; no secret-looking literals (allowlist honoured)", async () => {
    expect((await validateResource(secretEnvFromSecrets, deployment())).violations).toEqual([]);
    const literal = deployment({ container: { env: [{ name: "N8N_ENCRYPTION_KEY", value: "abc" }] } });
    expect((await validateResource(secretEnvFromSecrets, literal)).violations[0]).toMatch(/N8N_ENCRYPTION_KEY/);
    const password = deployment({ container: { env: [{ name: "DB_POSTGRESDB_PASSWORD", value: "p" }] } });
    expect((await validateResource(secretEnvFromSecrets, password)).violations).toHaveLength(1);
    const ttl = deployment({ container: { env: [{ name: "N8N_MULTI_MAIN_SETUP_KEY_TTL", value: "10" }] } });
    expect((await validateResource(secretEnvFromSecrets, ttl)).violations).toEqual([]);
    const custom = deployment({ container: { env: [{ name: "MY_TOKEN", value: "x" }] } });
    expect(
      (
        await validateResource(secretEnvFromSecrets, custom, {
          config: { [secretEnvFromSecrets.name]: { allowedLiteralNames: ["MY_*"] } },
        })
      ).violations,
    ).toEqual([]);
    const service = { type: "kubernetes:core/v1:Service", name: "s", inputs: {} };
    expect((await validateResource(secretEnvFromSecrets, service)).notApplicable).toBe(true);
  });

  it("3 requests and limits on every container, under the configured maxima", async () => {
    expect((await validateResource(containerResources, deployment())).violations).toEqual([]);
    const none = deployment({ container: { resources: { requests: { cpu: "1" } } } });
    expect((await validateResource(containerResources, none)).violations).toEqual([
      "container c: no cpu limit",
      "container c: no memory request",
      "container c: no memory limit",
    ]);
    const huge = deployment({
      container: { resources: { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "4", memory: "64Gi" } } },
    });
    expect((await validateResource(containerResources, huge)).violations).toEqual([
      "container c: memory limit 64Gi exceeds the allowed maximum",
    ]);
    expect(
      (
        await validateResource(containerResources, huge, {
          config: { [containerResources.name]: { maxMemory: "128Gi" } },
        })
      ).violations,
    ).toEqual([]);
    const inverted = deployment({
      container: { resources: { requests: { cpu: "2", memory: "1Gi" }, limits: { cpu: "1", memory: "1Gi" } } },
    });
    expect((await validateResource(containerResources, inverted)).violations).toEqual([
      "container c: cpu request exceeds its limit",
    ]);
  });

  it("4 images pinned", async () => {
    expect(isPinnedImage("docker.io/n8nio/n8n:2.40.7")).toBe(true);
    expect(isPinnedImage(`localhost:5000/n8n@sha256:${"a".repeat(64)}`)).toBe(true);
    expect(isPinnedImage("docker.io/n8nio/n8n:latest")).toBe(false);
    expect(isPinnedImage("n8nio/n8n")).toBe(false);
    expect(isPinnedImage("localhost:5000/n8n")).toBe(false);
    expect(
      (await validateResource(pinnedImages, deployment({ container: { image: "redis" } }))).violations,
    ).toHaveLength(1);
    expect((await validateResource(pinnedImages, deployment())).violations).toEqual([]);
  });

  it("5 Pod Security restricted, with exempt images reported by the advisory policy instead", async () => {
    expect((await validateResource(podSecurityRestricted, deployment())).violations).toEqual([]);
    const root = deployment({
      container: { securityContext: { allowPrivilegeEscalation: true } },
      pod: { securityContext: {} },
    });
    const v = (await validateResource(podSecurityRestricted, root)).violations;
    expect(v).toEqual(
      expect.arrayContaining([
        "container c: runAsNonRoot is not true",
        "container c: allowPrivilegeEscalation is not false",
        "container c: capabilities do not drop ALL",
        "container c: seccompProfile is not RuntimeDefault or Localhost",
      ]),
    );
    const hostPath = deployment({ pod: { volumes: [{ name: "h", hostPath: { path: "/" } }], hostNetwork: true } });
    expect((await validateResource(podSecurityRestricted, hostPath)).violations).toHaveLength(2);
    const config = {
      config: {
        "pod-security-restricted": { exemptImages: ["docker.io/n8nio/"] },
        "pod-security-exemptions": { exemptImages: ["docker.io/n8nio/"] },
      },
    };
    expect((await validateResource(podSecurityRestricted, root, config)).violations).toEqual([]);
    expect((await validateResource(podSecurityExemptions, root, config)).violations.length).toBeGreaterThan(0);
  });

  it("6 readiness and liveness probes", async () => {
    expect((await validateResource(workloadProbes, deployment())).violations).toEqual([]);
    const none = deployment({ container: { readinessProbe: undefined, livenessProbe: undefined } });
    expect((await validateResource(workloadProbes, none)).violations).toEqual([
      "container c: no readinessProbe",
      "container c: no livenessProbe",
    ]);
  });

  it("7 one n8n main unless multi-main", async () => {
    expect((await validateResource(singleMain, deployment())).violations).toEqual([]);
    expect((await validateResource(singleMain, deployment({ replicas: 2 }))).violations).toHaveLength(1);
    const multi = deployment({
      replicas: 2,
      container: { env: [{ name: "N8N_MULTI_MAIN_SETUP_ENABLED", value: "true" }] },
    });
    expect((await validateResource(singleMain, multi)).violations).toEqual([]);
    const worker = deployment({ replicas: 5, container: { args: ["worker", "--concurrency=10"] } });
    expect((await validateResource(singleMain, worker)).notApplicable).toBe(true);
  });

  it("8 HPAs: range, metrics, and at least 2 in production", async () => {
    const hpa = (spec: Record<string, unknown>) => ({
      type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
      name: "h",
      inputs: { spec },
    });
    const metrics = [{ type: "Resource" }];
    expect((await validateResource(hpaSane, hpa({ minReplicas: 1, maxReplicas: 3, metrics }))).violations).toEqual([]);
    expect((await validateResource(hpaSane, hpa({ minReplicas: 3, maxReplicas: 2, metrics }))).violations).toHaveLength(
      1,
    );
    expect((await validateResource(hpaSane, hpa({ minReplicas: 1, maxReplicas: 3 }))).violations).toEqual([
      "no metric to scale on",
    ]);
    const prodTag = { stackTags: { environment: "production" } };
    expect(
      (await validateResource(hpaSane, hpa({ minReplicas: 1, maxReplicas: 3, metrics }), prodTag)).violations,
    ).toHaveLength(1);
    const prodConfig = { config: { "hpa-sane": { production: true } } };
    expect(
      (await validateResource(hpaSane, hpa({ minReplicas: 2, maxReplicas: 3, metrics }), prodConfig)).violations,
    ).toEqual([]);
  });

  it("10 TLS on every Ingress host", async () => {
    const ingress = (spec: Record<string, unknown>) => ({
      type: "kubernetes:networking.k8s.io/v1:Ingress",
      name: "i",
      inputs: { spec },
    });
    const rules = [{ host: "a.example.com" }];
    expect(
      (await validateResource(ingressTls, ingress({ rules, tls: [{ hosts: ["a.example.com"], secretName: "t" }] })))
        .violations,
    ).toEqual([]);
    expect((await validateResource(ingressTls, ingress({ rules }))).violations).toEqual([
      "no TLS",
      "host a.example.com has no TLS",
    ]);
  });

  it("10 TLS and hostnames on every Gateway listener and HTTPRoute", async () => {
    const gateway = (listeners: unknown[]) => ({
      type: "kubernetes:gateway.networking.k8s.io/v1:Gateway",
      name: "g",
      inputs: { spec: { gatewayClassName: "eg", listeners } },
    });
    const https = {
      name: "https",
      protocol: "HTTPS",
      port: 443,
      hostname: "a.example.com",
      tls: { mode: "Terminate", certificateRefs: [{ name: "t" }] },
    };
    const http = { name: "http", protocol: "HTTP", port: 80, hostname: "a.example.com" };
    expect((await validateResource(ingressTls, gateway([https, http]))).violations).toEqual([]);
    expect((await validateResource(ingressTls, gateway([http]))).violations).toEqual([
      "no HTTPS listener",
      "host a.example.com is served over HTTP only",
    ]);
    expect(
      (
        await validateResource(
          ingressTls,
          gateway([
            { ...https, hostname: undefined, tls: { mode: "Passthrough" } },
            { ...https, name: "b", tls: {} },
          ]),
        )
      ).violations,
    ).toEqual([
      "listener https has no hostname: it serves any host, and no certificate can cover that",
      "listener https does not terminate TLS",
      "listener b has no certificateRef",
    ]);
    const route = (spec: Record<string, unknown>) => ({
      type: "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
      name: "r",
      inputs: { spec },
    });
    expect((await validateResource(ingressTls, route({ hostnames: ["a.example.com"] }))).violations).toEqual([]);
    expect((await validateResource(ingressTls, route({}))).violations).toEqual([
      "an HTTPRoute without hostnames serves every host of its Gateway's listeners",
    ]);
  });

  it("13 no LoadBalancer or NodePort Services", async () => {
    const svc = (type: string) => ({ type: "kubernetes:core/v1:Service", name: "s", inputs: { spec: { type } } });
    expect((await validateResource(noExternalServices, svc("ClusterIP"))).violations).toEqual([]);
    expect((await validateResource(noExternalServices, svc("LoadBalancer"))).violations).toHaveLength(1);
    expect((await validateResource(noExternalServices, svc("NodePort"))).violations).toHaveLength(1);
  });
});

// biome-ignore lint/suspicious/noExplicitAny: the variants reach deep into arbitrary manifests to break one field.
type Manifest = any;

/** A deep copy of a run's resources, one of them changed. */
function mutate(
  resources: RecordedResource[],
  pick: (r: RecordedResource) => boolean,
  change: (inputs: Manifest) => void,
) {
  const copy = structuredClone(resources);
  const target = copy.find(pick);
  if (!target) throw new Error("nothing to mutate");
  change(target.inputs);
  return copy;
}

const isNamed = (type: string, name: string) => (r: RecordedResource) =>
  r.type === type && (r.inputs.metadata as { name?: string } | undefined)?.name === name;
const n8nContainer = (inputs: Manifest) => inputs.spec.template.spec.containers[0];

describe.each(["staging", "prod"])("stack %s under the whole pack", (stack) => {
  let run: StackRun;
  let violations: Violation[];
  // The policy config the users' CI passes for this stack (policies/config.<stack>.json).
  const opts = {
    config: JSON.parse(readFileSync(join(ROOT, "policies", `config.${stack}.json`), "utf8")) as Record<
      string,
      Record<string, unknown>
    >,
    ...(stack === "prod" ? { stackTags: { environment: "production" } } : {}),
  };
  beforeAll(async () => {
    run = await runStackFile(stack);
    violations = await evaluatePack(run.resources, opts);
  });

  it("has no mandatory violation", () => {
    expect(violations.filter((v) => v.level === "mandatory")).toEqual([]);
  });

  it("and no advisory one either", () => {
    expect(violations).toEqual([]);
  });

  const mandatoryCaught = async (resources: RecordedResource[]) =>
    new Set((await evaluatePack(resources, opts)).filter((v) => v.level === "mandatory").map((v) => v.policy));

  const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
  const workerKey = (i: Manifest) =>
    (n8nContainer(i).env as { name: string; valueFrom?: { secretKeyRef: { key: string } } }[]).find(
      (e) => e.name === "N8N_ENCRYPTION_KEY",
    );

  it.each<[string, string | string[], (rs: RecordedResource[]) => RecordedResource[]]>([
    [
      // A literal key is also a process that does not share the Secret.
      "a literal encryption key",
      ["n8n-encryption-key-from-secret", "n8n-encryption-key-shared"],
      (rs) =>
        mutate(rs, isNamed(DEPLOYMENT, "n8n-main"), (i) => {
          const env = n8nContainer(i).env as { name: string; value?: string; valueFrom?: unknown }[];
          const key = env.find((e) => e.name === "N8N_ENCRYPTION_KEY");
          if (key) {
            key.valueFrom = undefined;
            key.value = "a-literal-key-in-the-program-0123456789";
          }
        }),
    ],
    [
      "a container without limits",
      "container-resources",
      (rs) =>
        mutate(rs, isNamed(DEPLOYMENT, "n8n-worker"), (i) => {
          n8nContainer(i).resources = { requests: { cpu: "1", memory: "1Gi" } };
        }),
    ],
    [
      "a latest tag",
      "no-latest-images",
      (rs) =>
        mutate(rs, isNamed(DEPLOYMENT, "n8n-worker"), (i) => {
          n8nContainer(i).image = "docker.io/n8nio/n8n:latest";
        }),
    ],
    [
      "two mains",
      "single-n8n-main",
      (rs) =>
        mutate(rs, isNamed(DEPLOYMENT, "n8n-main"), (i) => {
          i.spec.replicas = 2;
        }),
    ],
    [
      "a public bucket",
      "s3-buckets-secure",
      (rs) =>
        mutate(
          rs,
          (r) => r.type === "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
          (i) => {
            i.blockPublicPolicy = false;
          },
        ),
    ],
    [
      "a Gateway HTTPS listener without its certificate",
      "ingress-tls",
      (rs) =>
        mutate(rs, isNamed("kubernetes:gateway.networking.k8s.io/v1:Gateway", "n8n"), (i) => {
          delete i.spec.listeners[0].tls.certificateRefs;
        }),
    ],
    [
      "an HTTPRoute that serves the editor over plain HTTP",
      "gateway-http-redirects",
      (rs) =>
        mutate(rs, isNamed("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "n8n-main"), (i) => {
          i.spec.parentRefs[0].sectionName = "http";
        }),
    ],
    [
      "no deny-all",
      "namespace-default-deny",
      (rs) =>
        structuredClone(rs).filter((r) => !isNamed("kubernetes:networking.k8s.io/v1:NetworkPolicy", "default-deny")(r)),
    ],
    [
      "a root container",
      "pod-security-restricted",
      (rs) =>
        mutate(rs, isNamed("kubernetes:apps/v1:StatefulSet", "n8n-redis"), (i) => {
          i.spec.template.spec.containers[0].securityContext = { runAsUser: 0 };
          i.spec.template.spec.securityContext = {};
        }),
    ],
    [
      "a workload without probes",
      "workload-probes",
      (rs) =>
        mutate(rs, isNamed(DEPLOYMENT, "n8n-worker"), (i) => {
          delete n8nContainer(i).readinessProbe;
        }),
    ],
    [
      "an inverted HPA",
      "hpa-sane",
      (rs) =>
        mutate(
          rs,
          (r) => r.type === "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
          (i) => {
            i.spec.minReplicas = 9;
            i.spec.maxReplicas = 3;
          },
        ),
    ],
    [
      "a LoadBalancer Service",
      "no-loadbalancer-or-nodeport",
      (rs) =>
        mutate(rs, isNamed("kubernetes:core/v1:Service", "n8n-main"), (i) => {
          i.spec.type = "LoadBalancer";
        }),
    ],
    [
      "an encryption key written into the Secret",
      "encryption-key-secret-source",
      (rs) => {
        const copy = mutate(rs, isNamed("kubernetes:core/v1:Secret", "n8n-core"), (i) => {
          i.metadata.annotations = {};
          i.stringData["encryption-key"] = "changeme";
        });
        const secret = copy.find(isNamed("kubernetes:core/v1:Secret", "n8n-core")) as RecordedResource;
        secret.dependencies = [];
        secret.propertyDependencies = {};
        return copy;
      },
    ],
    [
      "a worker without the encryption key",
      "n8n-encryption-key-shared",
      (rs) =>
        mutate(rs, isNamed(DEPLOYMENT, "n8n-worker"), (i) => {
          n8nContainer(i).env = n8nContainer(i).env.filter((e: { name: string }) => e.name !== "N8N_ENCRYPTION_KEY");
        }),
    ],
    [
      "a worker reading the key from another Secret key",
      "n8n-encryption-key-shared",
      (rs) =>
        mutate(rs, isNamed(DEPLOYMENT, "n8n-worker"), (i) => {
          const key = workerKey(i);
          if (key?.valueFrom) key.valueFrom.secretKeyRef.key = "runners-auth-token";
        }),
    ],
    [
      "an HPA that scales n8n main",
      "autoscaler-targets",
      (rs) =>
        mutate(rs, isNamed(HPA, "n8n-worker"), (i) => {
          i.spec.scaleTargetRef.name = "n8n-main";
        }),
    ],
    [
      "an HPA whose target the stack does not have",
      "autoscaler-targets",
      (rs) =>
        mutate(rs, isNamed(HPA, "n8n-worker"), (i) => {
          i.spec.scaleTargetRef.name = "n8n-wrker";
        }),
    ],
    [
      "a KEDA ScaledObject beside the workers' HPA",
      "autoscaler-targets",
      (rs) => {
        const copy = structuredClone(rs);
        const hpa = copy.find(isNamed(HPA, "n8n-worker")) as RecordedResource;
        const namespace = (hpa.inputs.metadata as { namespace: string }).namespace;
        copy.push({
          ...structuredClone(hpa),
          type: SCALED_OBJECT,
          name: "extra-scaledobject",
          urn: `${hpa.urn}-extra`,
          inputs: {
            metadata: { name: "n8n-worker-keda", namespace },
            spec: { scaleTargetRef: { name: "n8n-worker" }, maxReplicaCount: 5, triggers: [] },
          },
        });
        return copy;
      },
    ],
  ])("catches %s with %s, and nothing else", async (_what, policy, breakIt) => {
    expect(await mandatoryCaught(breakIt(run.resources))).toEqual(new Set([policy].flat()));
  });

  it("reports a replicated workload without a PDB (advisory)", async () => {
    const broken = structuredClone(run.resources).filter(
      (r) => !isNamed("kubernetes:policy/v1:PodDisruptionBudget", "n8n-worker")(r),
    );
    const found = (await evaluatePack(broken, opts)).filter((v) => v.policy === "pdb-for-replicated");
    expect(found).toHaveLength(1);
    expect(found[0]?.level).toBe("advisory");
  });
});

describe("escape hatches under the pack", () => {
  it("a credential passed as a literal extraEnv value is caught; the same name from a Secret passes", async () => {
    const withLiteral = await runProgram("hatch", {
      domain: "n8n.example.com",
      main: { extraEnv: [{ name: "N8N_SMTP_PASS", value: "written-into-the-stack-file" }] },
    });
    const caught = (await evaluatePack(withLiteral.resources)).filter((v) => v.level === "mandatory");
    expect(caught.map((v) => v.policy)).toEqual(["n8n-encryption-key-from-secret"]);
    expect(caught[0]?.message).toContain("N8N_SMTP_PASS");
    const fromSecret = await runProgram("hatch", {
      domain: "n8n.example.com",
      main: { extraEnv: [{ name: "N8N_SMTP_PASS", secretKeyRef: { name: "smtp", key: "password" } }] },
    });
    const clean = (await evaluatePack(fromSecret.resources)).filter((v) => v.level === "mandatory");
    expect(clean).toEqual([]);
  });
});

describe("a stack that scales workers with KEDA under the whole pack", () => {
  it("has one autoscaler per workload, each scaling a workload of the stack", async () => {
    const run = await runProgram("keda", { domain: "n8n.example.com", workers: { queueScaling: "keda" } });
    expect(run.resources.some((r) => r.type === SCALED_OBJECT)).toBe(true);
    const found = (await evaluatePack(run.resources)).filter((v) => v.policy === "autoscaler-targets");
    expect(found).toEqual([]);
  });

  it("counts the ScaledObject's maximum when it looks for a PDB", async () => {
    const run = await runProgram("keda", {
      domain: "n8n.example.com",
      workers: { queueScaling: "keda", minReplicas: 1 },
    });
    const withoutPdb = run.resources.filter(
      (r) =>
        !(
          r.type === "kubernetes:policy/v1:PodDisruptionBudget" &&
          (r.inputs.metadata as { name?: string }).name === "n8n-worker"
        ),
    );
    const found = (await evaluatePack(withoutPdb)).filter((v) => v.policy === "pdb-for-replicated");
    expect(found.map((v) => v.message)).toEqual([expect.stringContaining("n8n-worker")]);
  });
});

describe("stack policies on their own", () => {
  it("2 accepts a key from a stack secret marked by the program", async () => {
    const secret: RecordedResource = {
      type: "kubernetes:core/v1:Secret",
      name: "core",
      parent: undefined,
      custom: true,
      protect: false,
      ignoreChanges: [],
      urn: "urn:s",
      dependencies: [],
      propertyDependencies: {},
      inputs: {
        metadata: { name: "core", annotations: { [KEY_SOURCE_ANNOTATION]: "stack-secret" } },
        stringData: { k: "x".repeat(40) },
      },
    };
    const pod: RecordedResource = {
      ...secret,
      type: DEPLOYMENT,
      name: "d",
      urn: "urn:d",
      inputs: deployment({
        container: { env: [{ name: "N8N_ENCRYPTION_KEY", valueFrom: { secretKeyRef: { name: "core", key: "k" } } }] },
      }).inputs,
    };
    expect(await validateStack(encryptionKeySecretSource, [secret, pod])).toEqual([]);
    const unmarked = structuredClone(secret);
    unmarked.inputs.metadata = { name: "core" };
    expect(await validateStack(encryptionKeySecretSource, [unmarked, pod])).toHaveLength(1);
  });

  it("9 and 11 look at what is attached, not at names", async () => {
    expect(await validateStack(bucketsSecure, [])).toEqual([]);
    expect(await validateStack(defaultDeny, [])).toEqual([]);
    const lonely: RecordedResource = {
      type: "aws:s3/bucket:Bucket",
      name: "b",
      custom: true,
      protect: false,
      ignoreChanges: [],
      urn: "urn:b",
      dependencies: [],
      propertyDependencies: {},
      inputs: {},
    };
    expect(await validateStack(bucketsSecure, [lonely])).toEqual([
      "bucket b: no default encryption",
      "bucket b: versioning not enabled",
      "bucket b: public access not fully blocked",
    ]);
  });

  it("the pod-template reader knows every workload kind", () => {
    const template = { spec: { containers: [{ name: "c" }] } };
    const cron = { spec: { jobTemplate: { spec: { template } } } };
    expect(podTemplateOf("kubernetes:batch/v1:CronJob", cron)).toEqual(template);
    expect(podTemplateOf("kubernetes:batch/v1:Job", { spec: { template } })).toEqual(template);
    expect(podTemplateOf("kubernetes:core/v1:Service", { spec: { type: "ClusterIP" } })).toBeUndefined();
  });
});
