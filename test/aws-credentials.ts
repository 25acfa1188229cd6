/**
 * What the consumers of the rendered AWS settings do with them, modelled from their source so a
 * test can ask "would this pod authenticate?" without a cluster:
 * - the EKS pod-identity webhook's mutation (amazon-eks-pod-identity-webhook, pkg/handler/handler.go:
 *   `MutatePod`, `getPodSpecPatch`, `addEnvToContainer`; defaults from main.go's flags);
 * - WAL-G v3.0.5 (the one in spilo-17:4.0-p3): internal/config/config.go `ReadConfigFromFile`
 *   (`~/.walg.json`) and `bindConfigToEnv`; pkg/storages/s3/session.go `configureSession`, which
 *   calls sts:AssumeRole whenever AWS_ROLE_ARN is set, with AWS_ROLE_SESSION_NAME as session name;
 * - aws-sdk-go v1.55.5 (WAL-G's SDK): aws/session/credentials.go `resolveCredentials` and
 *   `resolveCredsFromProfile`, aws/session/shared_config.go `setFromIniFile` (role_arn is read only
 *   when AWS_SDK_LOAD_CONFIG is true), aws/session/session.go (the config file is read only then);
 * - botocore (boto3, the dump job): environment keys, then AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE.
 * The instance metadata fallback is out of reach: the NetworkPolicies exclude 169.254.0.0/16.
 */

export interface ModelEnvVar {
  name: string;
  value?: unknown;
  valueFrom?: unknown;
}
export interface ModelMount {
  name: string;
  mountPath: string;
  subPath?: string;
}
export interface ModelContainer {
  name: string;
  env?: ModelEnvVar[];
  volumeMounts?: ModelMount[];
}
export interface ModelVolume {
  name: string;
  projected?: { sources: { serviceAccountToken?: { audience?: string; path: string } }[] };
  configMap?: { name: string; items?: { key: string; path: string }[] };
}
export interface ModelPod {
  serviceAccountName?: string;
  annotations?: Record<string, string>;
  initContainers?: ModelContainer[];
  containers: ModelContainer[];
  volumes?: ModelVolume[];
}

/** The webhook's defaults (main.go flags) and annotation names (pkg/constants.go). */
export const WEBHOOK = {
  roleAnnotation: "eks.amazonaws.com/role-arn",
  skipContainersAnnotation: "eks.amazonaws.com/skip-containers",
  volume: "aws-iam-token",
  mountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount",
  tokenPath: "token",
  audience: "sts.amazonaws.com",
} as const;

const has = (c: ModelContainer, ...names: string[]) => (c.env ?? []).some((e) => names.includes(e.name));

/**
 * The pod as the webhook leaves it. It acts only on pods whose ServiceAccount has the role
 * annotation; a container that already has a web identity variable, a region and
 * AWS_STS_REGIONAL_ENDPOINTS is left exactly as it is (no token variable, no mount).
 */
export function podIdentityWebhook(
  pod: ModelPod,
  serviceAccountAnnotations: Record<string, string>,
  webhook: { region?: string; regionalSts?: boolean } = {},
): ModelPod {
  const roleArn = serviceAccountAnnotations[WEBHOOK.roleAnnotation];
  if (!roleArn) return pod;
  const skip = new Set((pod.annotations?.[WEBHOOK.skipContainersAnnotation] ?? "").split(",").map((s) => s.trim()));
  const mutate = (c: ModelContainer): ModelContainer => {
    if (skip.has(c.name)) return c;
    const identity = has(c, "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE");
    const region = has(c, "AWS_REGION", "AWS_DEFAULT_REGION");
    const sts = has(c, "AWS_STS_REGIONAL_ENDPOINTS");
    if (identity && region && sts) return c;
    const env = [...(c.env ?? [])];
    if (!sts && webhook.regionalSts) env.push({ name: "AWS_STS_REGIONAL_ENDPOINTS", value: "regional" });
    if (!region && webhook.region) {
      env.push({ name: "AWS_DEFAULT_REGION", value: webhook.region }, { name: "AWS_REGION", value: webhook.region });
    }
    if (!identity) {
      env.push(
        { name: "AWS_ROLE_ARN", value: roleArn },
        { name: "AWS_WEB_IDENTITY_TOKEN_FILE", value: `${WEBHOOK.mountPath}/${WEBHOOK.tokenPath}` },
      );
    }
    const mounts = [...(c.volumeMounts ?? [])];
    if (!mounts.some((m) => m.name === WEBHOOK.volume))
      mounts.push({ name: WEBHOOK.volume, mountPath: WEBHOOK.mountPath });
    return { ...c, env, volumeMounts: mounts };
  };
  const volumes = [...(pod.volumes ?? [])];
  if (!volumes.some((v) => v.name === WEBHOOK.volume)) {
    volumes.unshift({
      name: WEBHOOK.volume,
      projected: { sources: [{ serviceAccountToken: { audience: WEBHOOK.audience, path: WEBHOOK.tokenPath } }] },
    });
  }
  return {
    ...pod,
    initContainers: pod.initContainers?.map(mutate),
    containers: pod.containers.map(mutate),
    volumes,
  };
}

/** The plain-value env of a container (valueFrom entries become a marker: they resolve at run time). */
export function envOf(c: ModelContainer): Record<string, string> {
  return Object.fromEntries(
    (c.env ?? []).map((e) => [e.name, e.valueFrom !== undefined ? `<from:${e.name}>` : String(e.value ?? "")]),
  );
}

/** Is `file` the projected ServiceAccount token with IRSA's audience, as this container sees it? */
export function isProjectedStsToken(pod: ModelPod, c: ModelContainer, file: string): boolean {
  return (c.volumeMounts ?? []).some((m) => {
    if (m.subPath !== undefined) return false;
    const volume = pod.volumes?.find((v) => v.name === m.name);
    return (volume?.projected?.sources ?? []).some(
      (s) =>
        s.serviceAccountToken !== undefined &&
        (s.serviceAccountToken.audience ?? WEBHOOK.audience) === WEBHOOK.audience &&
        `${m.mountPath.replace(/\/$/, "")}/${s.serviceAccountToken.path}` === file,
    );
  });
}

export type Credentials =
  | { kind: "static" }
  | { kind: "web-identity"; roleArn: string; tokenFile: string; sessionName?: string }
  | { kind: "none"; reason: string };

/** A minimal INI reader (aws-sdk-go's shared config format): section -> key -> value. */
export function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section: Record<string, string> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    if (!line) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = out[(header[1] as string).trim()] ??= {};
      continue;
    }
    const kv = /^([^=]+)=(.*)$/.exec(line);
    if (kv && section) section[(kv[1] as string).trim()] = (kv[2] as string).trim();
  }
  return out;
}

const truthy = (v: string | undefined) => ["1", "true", "t", "TRUE", "True"].includes(v ?? "");

/**
 * The credentials one WAL-G 3.0.5 run gets, given its environment (envdir over the scrubbed process
 * env) and the files it can read (path -> content). `trustAllowsSelfAssume` says whether the role's
 * trust policy lets the role assume itself (ours does not).
 */
export function walgCredentials(
  env: Record<string, string>,
  files: Record<string, string>,
  home: string,
  trustAllowsSelfAssume = false,
): Credentials {
  // ~/.walg.json: every key is bound into the environment (env wins: viper's AutomaticEnv).
  const walgJson = files[`${home}/.walg.json`];
  const settings: Record<string, string> = {
    ...(walgJson ? (JSON.parse(walgJson) as Record<string, string>) : {}),
    ...env,
  };
  if (settings.AWS_ROLE_ARN) {
    const session = settings.AWS_ROLE_SESSION_NAME ?? "";
    if (session.length < 2) return { kind: "none", reason: "WAL-G calls sts:AssumeRole with an empty session name" };
    if (!trustAllowsSelfAssume) return { kind: "none", reason: "WAL-G calls sts:AssumeRole, which the trust refuses" };
  }
  // aws-sdk-go v1 resolveCredentials.
  if (settings.AWS_ACCESS_KEY_ID && settings.AWS_SECRET_ACCESS_KEY) return { kind: "static" };
  if (settings.AWS_WEB_IDENTITY_TOKEN_FILE) {
    if (!settings.AWS_ROLE_ARN) return { kind: "none", reason: "web identity token without AWS_ROLE_ARN" };
    return { kind: "web-identity", roleArn: settings.AWS_ROLE_ARN, tokenFile: settings.AWS_WEB_IDENTITY_TOKEN_FILE };
  }
  const loadConfig = truthy(settings.AWS_SDK_LOAD_CONFIG);
  const paths = [
    ...(loadConfig ? [settings.AWS_CONFIG_FILE || `${home}/.aws/config`] : []),
    settings.AWS_SHARED_CREDENTIALS_FILE || `${home}/.aws/credentials`,
  ];
  const profile = settings.AWS_PROFILE || "default";
  const merged: Record<string, string> = {};
  for (const path of paths) {
    const text = files[path];
    if (text === undefined) continue;
    const ini = parseIni(text);
    const section = ini[profile] ?? ini[`profile ${profile}`];
    if (!section) continue;
    for (const [k, v] of Object.entries(section)) {
      if (["role_arn", "role_session_name"].includes(k) && !loadConfig) continue;
      merged[k] ??= v;
    }
  }
  if (merged.aws_access_key_id && merged.aws_secret_access_key) return { kind: "static" };
  if (merged.web_identity_token_file) {
    if (!merged.role_arn) return { kind: "none", reason: "web_identity_token_file without role_arn" };
    return {
      kind: "web-identity",
      roleArn: merged.role_arn,
      tokenFile: merged.web_identity_token_file,
      sessionName: merged.role_session_name,
    };
  }
  return { kind: "none", reason: "no credentials (instance metadata is blocked by the NetworkPolicies)" };
}

/** The credentials botocore (boto3) gets from a container's environment. */
export function botoCredentials(env: Record<string, string>): Credentials {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return { kind: "static" };
  if (env.AWS_ROLE_ARN && env.AWS_WEB_IDENTITY_TOKEN_FILE) {
    return { kind: "web-identity", roleArn: env.AWS_ROLE_ARN, tokenFile: env.AWS_WEB_IDENTITY_TOKEN_FILE };
  }
  return { kind: "none", reason: "no credentials (instance metadata is blocked by the NetworkPolicies)" };
}
