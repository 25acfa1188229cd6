/**
 * The n8n-cluster policy pack's policies, in their own module so tests can call each validator
 * directly; `index.ts` only hands them to `new PolicyPack(...)`.
 *
 * What CrossGuard shows a validator: a resource's inputs (`props`) with every secret already
 * unwrapped to its plain value, its options, and (stack policies) the dependencies between
 * resources. It does not say which values were secrets; policies that care about secrets therefore
 * look at where a value comes from (a reference, a random.RandomPassword), never at secretness.
 */
import type {
  EnforcementLevel,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";

type Json = Record<string, unknown>;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name?: string; key?: string } };
}
interface Container {
  name?: string;
  image?: string;
  args?: string[];
  env?: EnvVar[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Json;
  readinessProbe?: Json;
  livenessProbe?: Json;
}
interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
  securityContext?: Json;
  volumes?: Json[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec?: PodSpec;
}

const K8S = {
  deployment: "kubernetes:apps/v1:Deployment",
  statefulSet: "kubernetes:apps/v1:StatefulSet",
  daemonSet: "kubernetes:apps/v1:DaemonSet",
  job: "kubernetes:batch/v1:Job",
  cronJob: "kubernetes:batch/v1:CronJob",
  pod: "kubernetes:core/v1:Pod",
  service: "kubernetes:core/v1:Service",
  secret: "kubernetes:core/v1:Secret",
  ingress: "kubernetes:networking.k8s.io/v1:Ingress",
  gateway: "kubernetes:gateway.networking.k8s.io/v1:Gateway",
  httpRoute: "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
} as const;

const WORKLOADS: string[] = [K8S.deployment, K8S.statefulSet, K8S.daemonSet, K8S.job, K8S.cronJob];
const SCALABLE: string[] = [K8S.deployment, K8S.statefulSet];

/** The pod template of a workload's props (CronJobs nest it in their job template). */
export function podTemplateOf(type: string, props: Json): PodTemplate | undefined {
  const spec = props.spec as Json | undefined;
  if (!spec) return undefined;
  if (type === K8S.pod) return { metadata: props.metadata as PodTemplate["metadata"], spec: spec as PodSpec };
  if (type === K8S.cronJob) {
    return ((spec.jobTemplate as Json | undefined)?.spec as Json | undefined)?.template as PodTemplate | undefined;
  }
  return WORKLOADS.includes(type) ? (spec.template as PodTemplate | undefined) : undefined;
}

function allContainers(pod: PodSpec | undefined): Container[] {
  return [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
}

function nameOf(props: Json, fallback: string): string {
  return ((props.metadata as Json | undefined)?.name as string | undefined) ?? fallback;
}

/** Runs `check` on the pod template of any workload; other resources are not applicable. */
function forPods(check: (pod: PodTemplate, args: ResourceValidationArgs, report: ReportViolation) => void) {
  return (args: ResourceValidationArgs, report: ReportViolation) => {
    const pod = podTemplateOf(args.type, args.props);
    if (!pod) return args.notApplicable("not a workload with a pod template");
    check(pod, args, report);
  };
}

/** Shell-style glob (only `*`) to a RegExp. */
function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
}

// 1 -------------------------------------------------------------------------------------------

export const SECRET_LIKE_NAME = /(PASSWORD|PASS|TOKEN|SECRET|_KEY|CREDENTIALS?|AUTH)$/;

export const secretEnvFromSecrets: ResourceValidationPolicy = {
  name: "n8n-encryption-key-from-secret",
  description:
    "N8N_ENCRYPTION_KEY comes only from a Secret (valueFrom.secretKeyRef), and no env var whose name looks " +
    "secret (…PASSWORD, …TOKEN, …SECRET, …_KEY, …AUTH) carries a literal value.",
  remediationSteps:
    "Put the value in a Kubernetes Secret (n8n-cluster writes them in components/secrets.ts) and reference it " +
    "with valueFrom.secretKeyRef; for a name that only looks secret, add it to allowedLiteralNames.",
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      allowedLiteralNames: {
        type: "array",
        items: { type: "string" },
        default: ["*_KEY_TTL", "*_TOKEN_TTL", "*_TOKEN_FILE", "*_PASSWORD_FILE", "*_KEY_FILE"],
      },
    },
  },
  validateResource: forPods((pod, args, report) => {
    const allowed = (args.getConfig<{ allowedLiteralNames?: string[] }>().allowedLiteralNames ?? []).map(glob);
    for (const c of allContainers(pod.spec)) {
      for (const e of c.env ?? []) {
        if (e.name === "N8N_ENCRYPTION_KEY" && !e.valueFrom?.secretKeyRef) {
          report(
            `container ${c.name}: N8N_ENCRYPTION_KEY must use valueFrom.secretKeyRef, not a literal or another source`,
          );
        } else if (e.value !== undefined && SECRET_LIKE_NAME.test(e.name) && !allowed.some((re) => re.test(e.name))) {
          report(`container ${c.name}: ${e.name} looks secret but has a literal value; use valueFrom.secretKeyRef`);
        }
      }
    }
  }),
};

// 2 -------------------------------------------------------------------------------------------

/** Annotation the program puts on a Secret whose key came from `pulumi config set --secret`. */
export const KEY_SOURCE_ANNOTATION = "n8n-cluster/encryption-key-source";
const WEAK_KEYS = /^(changeme|change-me|secret|password|n8n|test|default|example)/i;

/** The ExternalSecret kind of the External Secrets Operator; its target Secret is filled from a secret store. */
const EXTERNAL_SECRET_TYPE = "kubernetes:external-secrets.io/v1:ExternalSecret";

export const encryptionKeySecretSource: StackValidationPolicy = {
  name: "encryption-key-secret-source",
  description:
    "The Secret that N8N_ENCRYPTION_KEY references gets that key from a random.RandomPassword, or from a stack " +
    "secret (the program marks that case with the annotation n8n-cluster/encryption-key-source: stack-secret, and " +
    "refuses a non-secret encryptionKey config), or from a secret store through an External Secrets Operator " +
    "ExternalSecret of the stack that writes that key, or (pods annotated n8n-cluster/encryption-key-source: " +
    "existing-secret, unless allowExistingSecrets is false) from a Secret made outside the stack. CrossGuard " +
    "unwraps secrets before policies see them, so the pack cannot itself tell a stack secret from a plain string; it " +
    "checks the dependency on the generator, the annotation, the ExternalSecret, and that a value it can see is at " +
    "least 32 characters and not a placeholder.",
  remediationSteps:
    "Let the program generate the key, set it with `pulumi config set --secret encryptionKey <value>`, or keep it " +
    "in your secret store (secrets.externalSecret) or an existing Secret (secrets.existing.encryptionKey); never " +
    "write the key into the program or a stack file in plain text.",
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      allowExistingSecrets: { type: "boolean", default: true },
    },
  },
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    const allowExisting = args.getConfig<{ allowExistingSecrets?: boolean }>().allowExistingSecrets ?? true;
    /** Secret/key -> the key-source annotations of the pods that read it. */
    const refs = new Map<string, Set<string | undefined>>();
    for (const r of args.resources) {
      const pod = podTemplateOf(r.type, r.props);
      const declared = (pod?.metadata as { annotations?: Record<string, string> } | undefined)?.annotations?.[
        KEY_SOURCE_ANNOTATION
      ];
      for (const c of allContainers(pod?.spec)) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (e.name !== "N8N_ENCRYPTION_KEY" || !ref?.name || !ref.key) continue;
          const id = `${ref.name}/${ref.key}`;
          refs.set(id, (refs.get(id) ?? new Set()).add(declared));
        }
      }
    }
    for (const [ref, declared] of refs) {
      const [secretName, key] = ref.split("/") as [string, string];
      const secret = args.resources.find((r) => r.type === K8S.secret && nameOf(r.props, r.name) === secretName);
      if (!secret) {
        const fromStore = args.resources.some((r) => {
          if (r.type !== EXTERNAL_SECRET_TYPE) return false;
          const spec = (r.props.spec ?? {}) as { target?: { name?: string }; data?: { secretKey?: string }[] };
          const target = spec.target?.name ?? nameOf(r.props, r.name);
          return target === secretName && (spec.data ?? []).some((d) => d.secretKey === key);
        });
        const existing = declared.size === 1 && declared.has("existing-secret");
        if (fromStore) continue;
        if (existing && allowExisting) continue;
        report(
          existing
            ? `N8N_ENCRYPTION_KEY references Secret ${secretName}, made outside the stack, and allowExistingSecrets is false`
            : `N8N_ENCRYPTION_KEY references Secret ${secretName}, which this stack neither manages, nor fills from a secret store (ExternalSecret with key ${key}), nor declares as existing on the pods`,
        );
        continue;
      }
      const data = (secret.props.stringData ?? secret.props.data ?? {}) as Record<string, unknown>;
      const value = data[key];
      const raw =
        typeof value === "string" && secret.props.data && !secret.props.stringData
          ? Buffer.from(value, "base64").toString("utf8")
          : value;
      const fromGenerator = (secret.propertyDependencies.stringData ?? secret.propertyDependencies.data ?? [])
        .concat(secret.dependencies)
        .some((d) => d.type === "random:index/randomPassword:RandomPassword");
      const annotations = ((secret.props.metadata as Json | undefined)?.annotations ?? {}) as Record<string, string>;
      const fromStackSecret = annotations[KEY_SOURCE_ANNOTATION] === "stack-secret";
      if (!fromGenerator && !fromStackSecret) {
        report(
          `Secret ${secretName}: the encryption key is neither generated (random.RandomPassword) nor marked as a stack secret`,
          secret.urn,
        );
      }
      if (typeof raw === "string" && (raw.length < 32 || WEAK_KEYS.test(raw))) {
        report(`Secret ${secretName}: the encryption key is shorter than 32 characters or a placeholder`, secret.urn);
      }
    }
  },
};

// 3 -------------------------------------------------------------------------------------------

/**
 * Kubernetes quantities, as the program's config/quantity.ts parses them. The pack keeps its own copy
 * so that `pulumi policy publish ./policies` needs nothing outside this folder; test/quantity.test.ts
 * keeps the two equal on every suffix and on malformed input.
 */
const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const FACTORS: Record<string, number> = {
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

export function quantity(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  const m = QUANTITY.exec(String(q).trim());
  return m ? Number(m[1]) * (FACTORS[m[2] ?? ""] as number) : undefined;
}

export const containerResources: ResourceValidationPolicy = {
  name: "container-resources",
  description:
    "Every container, init container and sidecar sets CPU and memory requests and limits, requests do not exceed " +
    "limits, and limits stay under the configured maxima.",
  remediationSteps: "Set resources.requests and resources.limits (cpu and memory) on every container.",
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      maxCpu: { type: "string", default: "8" },
      maxMemory: { type: "string", default: "32Gi" },
    },
  },
  validateResource: forPods((pod, args, report) => {
    const cfg = args.getConfig<{ maxCpu?: string; maxMemory?: string }>();
    const max = { cpu: quantity(cfg.maxCpu ?? "8") ?? 8, memory: quantity(cfg.maxMemory ?? "32Gi") ?? 32 * 1024 ** 3 };
    for (const c of allContainers(pod.spec)) {
      for (const res of ["cpu", "memory"] as const) {
        const request = quantity(c.resources?.requests?.[res]);
        const limit = quantity(c.resources?.limits?.[res]);
        if (request === undefined) report(`container ${c.name}: no ${res} request`);
        if (limit === undefined) report(`container ${c.name}: no ${res} limit`);
        if (request !== undefined && limit !== undefined && request > limit) {
          report(`container ${c.name}: ${res} request exceeds its limit`);
        }
        if (limit !== undefined && limit > max[res]) {
          report(`container ${c.name}: ${res} limit ${c.resources?.limits?.[res]} exceeds the allowed maximum`);
        }
      }
    }
  }),
};

// 4 -------------------------------------------------------------------------------------------

/** An image reference pinned to a version: a tag other than latest, or a digest. */
export function isPinnedImage(image: string | undefined): boolean {
  if (!image) return false;
  if (/@sha256:[a-f0-9]{64}$/.test(image)) return true;
  const lastSegment = image.split("/").pop() ?? "";
  const tag = lastSegment.includes(":") ? lastSegment.split(":").pop() : undefined;
  return tag !== undefined && tag !== "" && tag !== "latest";
}

export const pinnedImages: ResourceValidationPolicy = {
  name: "no-latest-images",
  description: "Every container image is pinned: a version tag (not latest) or a digest.",
  remediationSteps: "Use an exact tag such as n8nio/n8n:2.40.7, or an @sha256 digest.",
  enforcementLevel: "mandatory",
  validateResource: forPods((pod, _args, report) => {
    for (const c of allContainers(pod.spec)) {
      if (!isPinnedImage(c.image)) report(`container ${c.name}: image ${c.image ?? "(none)"} is not pinned`);
    }
  }),
};

// 5 -------------------------------------------------------------------------------------------

/** Checks Pod Security Standards "restricted"; returns what fails. */
export function restrictedViolations(pod: PodSpec, exempt: (image: string | undefined) => boolean): string[] {
  const out: string[] = [];
  const podCtx = (pod.securityContext ?? {}) as Json;
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) out.push("uses host namespaces");
  for (const v of pod.volumes ?? []) if ("hostPath" in v) out.push(`volume ${v.name as string} is a hostPath`);
  const podSeccomp = (podCtx.seccompProfile as Json | undefined)?.type;
  for (const c of allContainers(pod)) {
    if (exempt(c.image)) continue;
    const ctx = (c.securityContext ?? {}) as Json;
    const caps = (ctx.capabilities ?? {}) as { drop?: string[]; add?: string[] };
    const nonRoot = ctx.runAsNonRoot ?? podCtx.runAsNonRoot;
    const seccomp = (ctx.seccompProfile as Json | undefined)?.type ?? podSeccomp;
    if (nonRoot !== true) out.push(`container ${c.name}: runAsNonRoot is not true`);
    if ((ctx.runAsUser ?? podCtx.runAsUser) === 0) out.push(`container ${c.name}: runs as uid 0`);
    if (ctx.privileged === true) out.push(`container ${c.name}: privileged`);
    if (ctx.allowPrivilegeEscalation !== false) out.push(`container ${c.name}: allowPrivilegeEscalation is not false`);
    if (!(caps.drop ?? []).includes("ALL")) out.push(`container ${c.name}: capabilities do not drop ALL`);
    for (const add of caps.add ?? []) {
      if (add !== "NET_BIND_SERVICE") out.push(`container ${c.name}: adds capability ${add}`);
    }
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") {
      out.push(`container ${c.name}: seccompProfile is not RuntimeDefault or Localhost`);
    }
  }
  return out;
}

const exemptionsConfig = {
  properties: {
    exemptImages: {
      type: "array" as const,
      items: { type: "string" as const },
      default: [] as string[],
      description: "Image prefixes that cannot meet 'restricted'; reported by pod-security-exemptions instead.",
    },
  },
};

function exemptMatcher(args: ResourceValidationArgs) {
  const prefixes = args.getConfig<{ exemptImages?: string[] }>().exemptImages ?? [];
  return (image: string | undefined) => image !== undefined && prefixes.some((p) => image.startsWith(p));
}

export const podSecurityRestricted: ResourceValidationPolicy = {
  name: "pod-security-restricted",
  description:
    "Every pod template meets Pod Security Standards 'restricted': non-root, no privilege escalation, all " +
    "capabilities dropped, RuntimeDefault seccomp, no host namespaces or hostPath. Images listed in exemptImages " +
    "are skipped here and reported by the advisory policy pod-security-exemptions.",
  remediationSteps:
    "Set runAsNonRoot, allowPrivilegeEscalation: false, capabilities.drop [ALL] and seccompProfile RuntimeDefault.",
  enforcementLevel: "mandatory",
  configSchema: exemptionsConfig,
  validateResource: forPods((pod, args, report) => {
    for (const v of restrictedViolations(pod.spec ?? {}, exemptMatcher(args))) report(v);
  }),
};

export const podSecurityExemptions: ResourceValidationPolicy = {
  name: "pod-security-exemptions",
  description: "Advisory: names the containers that pod-security-restricted skipped because their image is exempt.",
  remediationSteps: "Prefer an image that runs restricted; keep the exemption list short and reviewed.",
  enforcementLevel: "advisory",
  configSchema: exemptionsConfig,
  validateResource: forPods((pod, args, report) => {
    const exempt = exemptMatcher(args);
    for (const c of allContainers(pod.spec)) {
      if (!exempt(c.image)) continue;
      for (const v of restrictedViolations(
        { containers: [c], securityContext: pod.spec?.securityContext },
        () => false,
      )) {
        report(`exempt image ${c.image}: ${v}`);
      }
    }
  }),
};

// 6 -------------------------------------------------------------------------------------------

export const workloadProbes: ResourceValidationPolicy = {
  name: "workload-probes",
  description: "Every container of a Deployment or StatefulSet has a readiness and a liveness probe.",
  remediationSteps: "Add readinessProbe and livenessProbe (n8n: /healthz/readiness and /healthz on 5678).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (!SCALABLE.includes(args.type)) return args.notApplicable("not a Deployment or StatefulSet");
    const pod = podTemplateOf(args.type, args.props);
    for (const c of pod?.spec?.containers ?? []) {
      if (!c.readinessProbe) report(`container ${c.name}: no readinessProbe`);
      if (!c.livenessProbe) report(`container ${c.name}: no livenessProbe`);
    }
  },
};

// 7 -------------------------------------------------------------------------------------------

/** The n8n container of a pod and its process (start, worker, webhook). */
function n8nProcess(pod: PodTemplate | undefined): { container: Container; process: string } | undefined {
  for (const c of pod?.spec?.containers ?? []) {
    if (/(^|\/)n8nio\/n8n(:|@|$)/.test(c.image ?? "")) return { container: c, process: c.args?.[0] ?? "start" };
  }
  return undefined;
}

export const singleMain: ResourceValidationPolicy = {
  name: "single-n8n-main",
  description:
    "n8n main (`n8n start`) runs at most one replica unless N8N_MULTI_MAIN_SETUP_ENABLED is true (an Enterprise " +
    "licence): two plain mains fire every schedule twice.",
  remediationSteps: "Set main.replicas to 1, or enable n8n.multiMain with a licence.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== K8S.deployment && args.type !== K8S.statefulSet) return args.notApplicable("not a workload");
    const n8n = n8nProcess(podTemplateOf(args.type, args.props));
    if (n8n?.process !== "start") return args.notApplicable("not n8n main");
    const replicas = ((args.props.spec as Json | undefined)?.replicas as number | undefined) ?? 1;
    const multiMain = n8n.container.env?.some((e) => e.name === "N8N_MULTI_MAIN_SETUP_ENABLED" && e.value === "true");
    if (replicas > 1 && !multiMain) report(`n8n main has ${replicas} replicas without multi-main`);
  },
};

// 8 -------------------------------------------------------------------------------------------

/** A production stack: tagged environment=production (or prod), or configured so. */
function isProduction(tags: ReadonlyMap<string, string>, configured: boolean | undefined): boolean {
  const env = (tags.get("environment") ?? tags.get("env") ?? "").toLowerCase();
  return configured === true || env === "production" || env === "prod";
}

export const hpaSane: ResourceValidationPolicy = {
  name: "hpa-sane",
  description:
    "HorizontalPodAutoscalers have maxReplicas >= minReplicas and at least one metric; in production stacks " +
    "(stack tag environment=production, or config production: true) minReplicas is at least 2.",
  remediationSteps: "Fix the replica range, add a metric, or raise minReplicas for production.",
  enforcementLevel: "mandatory",
  configSchema: { properties: { production: { type: "boolean", default: false } } },
  validateResource: (args, report) => {
    if (args.type !== K8S.hpa) return args.notApplicable("not an HPA");
    const spec = (args.props.spec ?? {}) as { minReplicas?: number; maxReplicas?: number; metrics?: unknown[] };
    const min = spec.minReplicas ?? 1;
    const max = spec.maxReplicas ?? 0;
    if (max < min) report(`maxReplicas (${max}) is below minReplicas (${min})`);
    if (!spec.metrics || spec.metrics.length === 0) report("no metric to scale on");
    if (isProduction(args.stackTags, args.getConfig<{ production?: boolean }>().production) && min < 2) {
      report(`production stack: minReplicas (${min}) must be at least 2`);
    }
  },
};

// 9 -------------------------------------------------------------------------------------------

function dependsOn(r: PolicyResource, target: PolicyResource): boolean {
  return (r.propertyDependencies.bucket ?? r.dependencies).some((d) => d.urn === target.urn);
}

export const bucketsSecure: StackValidationPolicy = {
  name: "s3-buckets-secure",
  description:
    "Every S3 bucket of the stack (the WAL archive and the dump bucket) has default encryption, versioning " +
    "enabled and a public access block with all four settings on.",
  remediationSteps:
    "Create BucketServerSideEncryptionConfiguration, BucketVersioning (Enabled) and BucketPublicAccessBlock for it.",
  enforcementLevel: "mandatory",
  validateStack: (args, report) => {
    const of = (type: string) => args.resources.filter((r) => r.type === type);
    for (const bucket of of("aws:s3/bucket:Bucket")) {
      const attached = (type: string) => of(type).filter((r) => dependsOn(r, bucket));
      const encryption = attached(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      );
      const versioning = attached("aws:s3/bucketVersioning:BucketVersioning").filter(
        (v) => (v.props.versioningConfiguration as Json | undefined)?.status === "Enabled",
      );
      const block = attached("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").filter((b) =>
        ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"].every(
          (k) => b.props[k] === true,
        ),
      );
      if (encryption.length === 0) report(`bucket ${bucket.name}: no default encryption`, bucket.urn);
      if (versioning.length === 0) report(`bucket ${bucket.name}: versioning not enabled`, bucket.urn);
      if (block.length === 0) report(`bucket ${bucket.name}: public access not fully blocked`, bucket.urn);
    }
  },
};

// 10 ------------------------------------------------------------------------------------------

interface Listener {
  name?: string;
  hostname?: string;
  protocol?: string;
  tls?: { mode?: string; certificateRefs?: unknown[] };
}

export const ingressTls: ResourceValidationPolicy = {
  name: "ingress-tls",
  description:
    "Every Ingress terminates TLS for every host it routes; every Gateway listener names its host and each HTTP host has an HTTPS listener that terminates TLS with a certificate; every HTTPRoute names its hosts.",
  remediationSteps:
    "Ingress: add spec.tls with the rule hosts and a secretName (cert-manager fills it). Gateway: give each listener a hostname, and an HTTPS listener with tls.mode Terminate and a Secret certificateRef (cert-manager's gateway-shim fills it). HTTPRoute: set spec.hostnames.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const spec = (args.props.spec ?? {}) as Json;
    if (args.type === K8S.gateway) {
      const listeners = (spec.listeners ?? []) as Listener[];
      const https = listeners.filter((l) => l.protocol === "HTTPS");
      if (https.length === 0) report("no HTTPS listener");
      for (const l of listeners) {
        if (!l.hostname)
          report(`listener ${l.name} has no hostname: it serves any host, and no certificate can cover that`);
      }
      for (const l of https) {
        if ((l.tls?.mode ?? "Terminate") !== "Terminate") report(`listener ${l.name} does not terminate TLS`);
        else if (!l.tls?.certificateRefs?.length) report(`listener ${l.name} has no certificateRef`);
      }
      for (const l of listeners.filter((x) => x.protocol === "HTTP" && x.hostname)) {
        if (!https.some((h) => h.hostname === l.hostname)) report(`host ${l.hostname} is served over HTTP only`);
      }
      return;
    }
    if (args.type === K8S.httpRoute) {
      if (!((spec.hostnames as string[] | undefined) ?? []).length) {
        report("an HTTPRoute without hostnames serves every host of its Gateway's listeners");
      }
      return;
    }
    if (args.type !== K8S.ingress) return args.notApplicable("not an Ingress, Gateway or HTTPRoute");
    const ing = spec as { tls?: { hosts?: string[]; secretName?: string }[]; rules?: { host?: string }[] };
    const tlsHosts = new Set((ing.tls ?? []).filter((t) => t.secretName).flatMap((t) => t.hosts ?? []));
    if (tlsHosts.size === 0) report("no TLS");
    for (const rule of ing.rules ?? []) {
      if (!rule.host) report("a rule without a host cannot be served over TLS");
      else if (!tlsHosts.has(rule.host)) report(`host ${rule.host} has no TLS`);
    }
  },
};

/**
 * Plain HTTP on a Gateway of the stack serves redirects only: a route attached to an HTTP
 * listener (by sectionName, or to a Gateway that has one when it names none) must redirect to
 * https and send nothing to a backend. cert-manager's HTTP-01 solver route is not in the stack.
 */
export const gatewayHttpRedirects: StackValidationPolicy = {
  name: "gateway-http-redirects",
  description: "HTTPRoutes on a Gateway's plain-HTTP listener only redirect to HTTPS; no backend is served over HTTP.",
  remediationSteps:
    "Attach application routes to the HTTPS listener (parentRefs sectionName); on the HTTP listener keep one route whose rules have a RequestRedirect filter with scheme https.",
  enforcementLevel: "mandatory",
  validateStack: (args, report) => {
    const gateways = args.resources.filter((r) => r.type === K8S.gateway);
    const httpListeners = (ns: string | undefined, name: string) => {
      const gw = gateways.find(
        (g) => nameOf(g.props, g.name) === name && (namespaceOf(g) ?? "default") === (ns ?? "default"),
      );
      return (((gw?.props.spec as Json | undefined)?.listeners ?? []) as Listener[]).filter(
        (l) => l.protocol === "HTTP",
      );
    };
    for (const route of args.resources.filter((r) => r.type === K8S.httpRoute)) {
      const spec = (route.props.spec ?? {}) as {
        parentRefs?: { name: string; namespace?: string; sectionName?: string }[];
        rules?: { backendRefs?: unknown[]; filters?: { type?: string; requestRedirect?: { scheme?: string } }[] }[];
      };
      const onHttp = (spec.parentRefs ?? []).some((ref) => {
        const http = httpListeners(ref.namespace ?? namespaceOf(route), ref.name);
        return ref.sectionName ? http.some((l) => l.name === ref.sectionName) : http.length > 0;
      });
      if (!onHttp) continue;
      const redirectsOnly = (spec.rules ?? []).every(
        (rule) =>
          !rule.backendRefs?.length &&
          (rule.filters ?? []).some((f) => f.type === "RequestRedirect" && f.requestRedirect?.scheme === "https"),
      );
      if (!redirectsOnly) {
        report(
          `HTTPRoute ${nameOf(route.props, route.name)} serves a plain-HTTP listener with more than a redirect to https`,
          route.urn,
        );
      }
    }
  },
};

// 11 ------------------------------------------------------------------------------------------

function namespaceOf(r: PolicyResource): string | undefined {
  return (r.props.metadata as Json | undefined)?.namespace as string | undefined;
}

export const defaultDeny: StackValidationPolicy = {
  name: "namespace-default-deny",
  description:
    "Every namespace the stack runs pods in has a NetworkPolicy that selects all pods and denies ingress and egress by default.",
  remediationSteps: "Add a NetworkPolicy with podSelector: {} and policyTypes [Ingress, Egress] and no rules.",
  enforcementLevel: "mandatory",
  validateStack: (args, report) => {
    const podNamespaces = new Set(
      args.resources.filter((r) => podTemplateOf(r.type, r.props)).map((r) => namespaceOf(r) ?? "default"),
    );
    for (const ns of podNamespaces) {
      const denies = args.resources.some((r) => {
        if (r.type !== K8S.networkPolicy || namespaceOf(r) !== ns) return false;
        const spec = (r.props.spec ?? {}) as {
          podSelector?: Json;
          policyTypes?: string[];
          ingress?: unknown[];
          egress?: unknown[];
        };
        const selectsAll =
          Object.keys(spec.podSelector ?? {}).length === 0 ||
          (Object.keys((spec.podSelector as Json).matchLabels ?? {}).length === 0 &&
            (((spec.podSelector as Json).matchExpressions as unknown[] | undefined) ?? []).length === 0);
        const types = spec.policyTypes ?? [];
        return (
          selectsAll &&
          types.includes("Ingress") &&
          types.includes("Egress") &&
          !spec.ingress?.length &&
          !spec.egress?.length
        );
      });
      if (!denies) report(`namespace ${ns} runs pods without a default-deny NetworkPolicy`);
    }
  },
};

// 12 ------------------------------------------------------------------------------------------

function selectorMatches(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return selector !== undefined && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export const pdbForReplicated: StackValidationPolicy = {
  name: "pdb-for-replicated",
  description:
    "Advisory: a Deployment or StatefulSet that runs (or autoscales to) more than one replica has a PodDisruptionBudget.",
  remediationSteps: "Add a policy/v1 PodDisruptionBudget whose selector matches the pod template labels.",
  enforcementLevel: "advisory",
  validateStack: (args, report) => {
    const pdbs = args.resources.filter((r) => r.type === K8S.pdb);
    // The maximum any autoscaler (HPA or KEDA ScaledObject) may scale a workload to.
    const scaledMax = new Map<string, number>();
    for (const a of autoscalers(args.resources)) {
      const key = `${a.namespace}/${a.target.kind}/${a.target.name}`;
      scaledMax.set(key, Math.max(scaledMax.get(key) ?? 0, a.maxReplicas));
    }
    for (const w of args.resources.filter((r) => SCALABLE.includes(r.type))) {
      const name = nameOf(w.props, w.name);
      const replicas = Math.max(
        ((w.props.spec as Json | undefined)?.replicas as number | undefined) ?? 1,
        scaledMax.get(`${namespaceOf(w)}/${KIND_OF_TYPE[w.type]}/${name}`) ?? 0,
      );
      if (replicas <= 1) continue;
      const labels = podTemplateOf(w.type, w.props)?.metadata?.labels ?? {};
      const covered = pdbs.some(
        (p) =>
          namespaceOf(p) === namespaceOf(w) &&
          selectorMatches(
            ((p.props.spec as Json | undefined)?.selector as Json | undefined)?.matchLabels as Record<string, string>,
            labels,
          ),
      );
      if (!covered) report(`${name} runs up to ${replicas} replicas without a PodDisruptionBudget`, w.urn);
    }
  },
};

// 13 ------------------------------------------------------------------------------------------

export const noExternalServices: ResourceValidationPolicy = {
  name: "no-loadbalancer-or-nodeport",
  description: "No Service of type LoadBalancer or NodePort: traffic enters through the Ingress only.",
  remediationSteps: "Use a ClusterIP Service behind the Ingress.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== K8S.service) return args.notApplicable("not a Service");
    const type = (args.props.spec as Json | undefined)?.type as string | undefined;
    if (type === "LoadBalancer" || type === "NodePort") report(`Service type ${type} is not allowed`);
  },
};

// 14 ------------------------------------------------------------------------------------------

export const SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject";

interface Autoscaler {
  resource: PolicyResource;
  kind: string;
  target: { kind: string; name: string };
  namespace?: string;
  maxReplicas: number;
}

/** How each autoscaler kind names its maximum; a ScaledObject's target kind defaults to Deployment, KEDA's maximum to 100. */
const AUTOSCALER_KINDS: Record<string, { kind: string; targetKind: string; maxField: string; defaultMax: number }> = {
  [K8S.hpa]: { kind: "HorizontalPodAutoscaler", targetKind: "", maxField: "maxReplicas", defaultMax: 1 },
  [SCALED_OBJECT]: { kind: "ScaledObject", targetKind: "Deployment", maxField: "maxReplicaCount", defaultMax: 100 },
};

/** HPAs and KEDA ScaledObjects with what they scale. */
function autoscalers(resources: PolicyResource[]): Autoscaler[] {
  return resources.flatMap((r) => {
    const kind = AUTOSCALER_KINDS[r.type];
    if (!kind) return [];
    const spec = (r.props.spec ?? {}) as Json;
    const ref = (spec.scaleTargetRef ?? {}) as { kind?: string; name?: string };
    return [
      {
        resource: r,
        kind: kind.kind,
        target: { kind: ref.kind ?? kind.targetKind, name: ref.name ?? "" },
        namespace: namespaceOf(r),
        maxReplicas: (spec[kind.maxField] as number | undefined) ?? kind.defaultMax,
      },
    ];
  });
}

const KIND_OF_TYPE: Record<string, string> = { [K8S.deployment]: "Deployment", [K8S.statefulSet]: "StatefulSet" };

export const autoscalerTargets: StackValidationPolicy = {
  name: "autoscaler-targets",
  description:
    "Every HorizontalPodAutoscaler and KEDA ScaledObject scales a Deployment or StatefulSet of this stack (same " +
    "kind, name and namespace), no workload has two autoscalers (KEDA's own HPA would fight the other), and none " +
    "scales n8n main beyond one replica without multi-main (two plain mains fire every schedule twice).",
  remediationSteps:
    "Point scaleTargetRef at the workload the autoscaler is for (n8n-worker, n8n-webhook), keep one autoscaler per " +
    "workload (workers.queueScaling picks HPA or KEDA), and never autoscale n8n main.",
  enforcementLevel: "mandatory",
  validateStack: (args, report) => {
    const all = autoscalers(args.resources);
    const seen = new Map<string, Autoscaler>();
    for (const a of all) {
      const label = `${a.kind} ${nameOf(a.resource.props, a.resource.name)}`;
      const target = args.resources.find(
        (r) =>
          KIND_OF_TYPE[r.type] === a.target.kind &&
          nameOf(r.props, r.name) === a.target.name &&
          namespaceOf(r) === a.namespace,
      );
      if (!target) {
        report(`${label} scales ${a.target.kind}/${a.target.name}, which this stack does not have`, a.resource.urn);
        continue;
      }
      const key = `${a.namespace}/${a.target.kind}/${a.target.name}`;
      const other = seen.get(key);
      if (other) {
        report(
          `${label} and ${other.kind} ${nameOf(other.resource.props, other.resource.name)} both scale ${key}`,
          a.resource.urn,
        );
      }
      seen.set(key, a);
      const n8n = n8nProcess(podTemplateOf(target.type, target.props));
      const multiMain = n8n?.container.env?.some(
        (e) => e.name === "N8N_MULTI_MAIN_SETUP_ENABLED" && e.value === "true",
      );
      if (n8n?.process === "start" && a.maxReplicas > 1 && !multiMain) {
        report(`${label} scales n8n main to ${a.maxReplicas} replicas without multi-main`, a.resource.urn);
      }
    }
  },
};

// 15 ------------------------------------------------------------------------------------------

export const encryptionKeyShared: StackValidationPolicy = {
  name: "n8n-encryption-key-shared",
  description:
    "Every n8n process of the stack (main, workers, webhook processors, in every workload) reads N8N_ENCRYPTION_KEY " +
    "from the same Secret key. A process without it, or with another key, writes credentials the others cannot " +
    "decrypt.",
  remediationSteps:
    "Reference the one encryption-key Secret from every n8n container (the program's n8n-core/encryption-key).",
  enforcementLevel: "mandatory",
  validateStack: (args, report) => {
    const refs = new Map<string, string[]>();
    for (const r of args.resources) {
      const pod = podTemplateOf(r.type, r.props);
      for (const c of allContainers(pod?.spec)) {
        if (!/(^|\/)n8nio\/n8n(:|@|$)/.test(c.image ?? "")) continue;
        const where = `${nameOf(r.props, r.name)}/${c.name}`;
        const ref = c.env?.find((e) => e.name === "N8N_ENCRYPTION_KEY")?.valueFrom?.secretKeyRef;
        if (!ref?.name || !ref.key) {
          report(`${where} has no N8N_ENCRYPTION_KEY from a Secret: it would generate a key of its own`, r.urn);
          continue;
        }
        const key = `${namespaceOf(r) ?? ""}/${ref.name}/${ref.key}`;
        refs.set(key, [...(refs.get(key) ?? []), where]);
      }
    }
    if (refs.size > 1) {
      const list = [...refs].map(([k, users]) => `${k} (${users.join(", ")})`).join("; ");
      report(`n8n processes read the encryption key from ${refs.size} different Secret keys: ${list}`);
    }
  },
};

export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  secretEnvFromSecrets,
  encryptionKeySecretSource,
  containerResources,
  pinnedImages,
  podSecurityRestricted,
  podSecurityExemptions,
  workloadProbes,
  singleMain,
  hpaSane,
  bucketsSecure,
  ingressTls,
  gatewayHttpRedirects,
  defaultDeny,
  pdbForReplicated,
  noExternalServices,
  autoscalerTargets,
  encryptionKeyShared,
];

export const PACK_ENFORCEMENT: EnforcementLevel = "mandatory";
