/**
 * The Pulumi mock runtime used by the offline render and the tests. It records every registered
 * resource with its parent and inputs, and answers the way the providers would where the program
 * depends on it: auto-names, random results, bucket names and ARNs.
 */
import { createHash, randomInt } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

export interface RecordedResource {
  /** Pulumi type token, e.g. "kubernetes:apps/v1:Deployment". */
  type: string;
  /** Pulumi resource name (not metadata.name). */
  name: string;
  /** Name of the parent resource; undefined for the stack's direct children. */
  parent?: string;
  custom: boolean;
  /** The provider reference ("<urn>::<id>") it was registered with; undefined for the default provider. */
  provider?: string;
  /** The `protect` resource option. */
  protect: boolean;
  /** The `ignoreChanges` resource option. */
  ignoreChanges: string[];
  /** The URN the mock monitor gave it. */
  urn: string;
  /** URNs this resource depends on, in all and per input property. */
  dependencies: string[];
  propertyDependencies: Record<string, string[]>;
  inputs: Record<string, unknown>;
}

const ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ACCOUNT_ID = "123456789012";

function shortHash(text: string, length = 7): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/** Pulumi's auto-name: the resource name plus a suffix (deterministic here, so renders are stable). */
export function autoName(name: string): string {
  return `${name}-${shortHash(name)}`;
}

function randomString(length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  return out;
}

/** The SDK's wire markers for a secret value: `{ [SIG_KEY]: SECRET_SIG, value }`. */
const SIG_KEY = pulumi.runtime.specialSigKey;
const SECRET_SIG = pulumi.runtime.specialSecretSig;

/** Inputs as plain data: secret wrappers replaced by the values they wrap. */
export function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (obj[SIG_KEY] === SECRET_SIG) return unwrapSecrets(obj.value);
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

export class MockRecorder implements pulumi.runtime.Mocks {
  readonly resources: RecordedResource[] = [];
  /** Every secret value the mocks generated, so callers can prove none leaks into output. */
  readonly generatedSecrets: string[] = [];
  private readonly registrations = new Map<string, Registration>();

  /** Called by the monitor hook below with what `newResource` is not told: parent and options. */
  noteRegistration(
    type: string,
    name: string,
    parentUrn: string | undefined,
    details: Omit<Registration, "parent">,
  ): void {
    const isStack = parentUrn === undefined || parentUrn.endsWith("::pulumi:pulumi:Stack");
    this.registrations.set(`${type}::${name}`, {
      parent: isStack ? undefined : parentUrn.split("::").pop(),
      ...details,
    });
  }

  /** Called once the monitor has answered a registration with its URN. */
  noteUrn(type: string, name: string, urn: string): void {
    const r = this.resources.find((x) => x.type === type && x.name === name);
    if (r) r.urn = urn;
  }

  /** Stack transforms (pulumi.runtime.registerResourceTransform), applied as the engine applies them. */
  private readonly stackTransforms: pulumi.ResourceTransform[] = [];

  registerTransform(transform: pulumi.ResourceTransform): void {
    this.stackTransforms.push(transform);
  }

  /**
   * The inputs after the resource's own transforms, then the stack's, in order, the way the engine
   * runs them before a provider sees the inputs (the render shows what `pulumi up` would send).
   */
  private async transformed(args: pulumi.runtime.MockResourceArgs): Promise<Record<string, unknown>> {
    let props = unwrapSecrets(args.inputs ?? {}) as Record<string, unknown>;
    for (const transform of [...((args.transforms ?? []) as pulumi.ResourceTransform[]), ...this.stackTransforms]) {
      const result = await transform({
        custom: args.custom ?? false,
        type: args.type,
        name: args.name,
        props,
        opts: {},
      });
      if (result) props = unwrapSecrets(result.props) as Record<string, unknown>;
    }
    return props;
  }

  async newResource(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
    const inputs = await this.transformed(args);
    if (args.type !== "pulumi:pulumi:Stack") {
      const registration = this.registrations.get(`${args.type}::${args.name}`);
      this.resources.push({
        type: args.type,
        name: args.name,
        parent: registration?.parent,
        custom: args.custom ?? false,
        provider: registration?.provider,
        protect: registration?.protect ?? false,
        ignoreChanges: registration?.ignoreChanges ?? [],
        urn: "",
        dependencies: registration?.dependencies ?? [],
        propertyDependencies: registration?.propertyDependencies ?? {},
        inputs,
      });
    }
    return { id: args.custom ? `${args.name}-id` : undefined, state: this.stateFor(args.type, args.name, inputs) };
  }

  call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
    switch (args.token) {
      case "aws:index/getCallerIdentity:getCallerIdentity":
        return { accountId: ACCOUNT_ID, arn: `arn:aws:iam::${ACCOUNT_ID}:user/render`, userId: "render" };
      case "aws:index/getRegion:getRegion":
        return { name: "us-east-1", region: "us-east-1", id: "us-east-1" };
      case "aws:index/getPartition:getPartition":
        return { partition: "aws", dnsSuffix: "amazonaws.com", id: "aws" };
      default:
        return args.inputs;
    }
  }

  private stateFor(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
    if (type.startsWith("kubernetes:") && !type.startsWith("pulumi:")) {
      const metadata = { ...((inputs.metadata as Record<string, unknown>) ?? {}) };
      metadata.name ??= autoName(name);
      return { ...inputs, metadata };
    }
    if (type === "random:index/randomPassword:RandomPassword" || type === "random:index/randomString:RandomString") {
      const result = randomString(Number(inputs.length ?? 32));
      // The form of a bcrypt hash (cost 10), not a hash of `result`: the render only ever redacts it.
      const bcryptHash = `$2a$10$${randomString(53).replace(/[^./A-Za-z0-9]/g, ".")}`;
      this.generatedSecrets.push(result, bcryptHash);
      return { ...inputs, result, ...(type.endsWith("RandomPassword") ? { bcryptHash } : {}) };
    }
    if (type === "aws:s3/bucket:Bucket" || type === "aws:s3/bucketV2:BucketV2") {
      const bucket =
        (inputs.bucket as string | undefined) ?? `${inputs.bucketPrefix ?? `${name}-`}${shortHash(name, 12)}`;
      return { ...inputs, bucket, id: bucket, arn: `arn:aws:s3:::${bucket}`, region: "us-east-1" };
    }
    const iam = /^aws:iam\/(role|user|policy):/.exec(type);
    if (iam) {
      const resourceName = (inputs.name as string | undefined) ?? autoName(name);
      return { ...inputs, name: resourceName, arn: `arn:aws:iam::${ACCOUNT_ID}:${iam[1]}/${resourceName}` };
    }
    if (type === "aws:iam/accessKey:AccessKey") {
      const secret = randomString(40);
      this.generatedSecrets.push(secret);
      return { ...inputs, id: `AKIA${shortHash(name, 16).toUpperCase()}`, secret };
    }
    return inputs;
  }
}

interface Registration {
  parent?: string;
  /** The provider reference ("<urn>::<id>") the resource was registered with, when one was given. */
  provider?: string;
  protect: boolean;
  ignoreChanges: string[];
  dependencies: string[];
  propertyDependencies: Record<string, string[]>;
}

type RegisterCallback = (err: unknown, response?: { getUrn(): string }) => void;
interface HookableMonitor {
  registerResource(req: unknown, callback: RegisterCallback): Promise<void>;
}
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getProtect(): boolean;
  getProvider(): string;
  getIgnorechangesList(): string[];
  getDependenciesList(): string[];
  getPropertydependenciesMap(): { forEach(f: (value: { getUrnsList(): string[] }, key: string) => void): void };
}

/**
 * Installs the mocks and the config for one stack. The SDK does not pass a registration's parent or
 * options to `newResource`, so the monitor's registerResource is wrapped once to note them first.
 */
export async function installMocks(
  project: string,
  stack: string,
  config: Record<string, string>,
  secretKeys: string[],
): Promise<MockRecorder> {
  const recorder = new MockRecorder();
  await pulumi.runtime.setMocks(recorder, project, stack, false);
  const monitor = pulumi.runtime.getMonitor() as unknown as HookableMonitor;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    const r = req as RegisterRequest;
    const propertyDependencies: Record<string, string[]> = {};
    r.getPropertydependenciesMap().forEach((value, key) => {
      propertyDependencies[key] = value.getUrnsList();
    });
    recorder.noteRegistration(r.getType(), r.getName(), r.getParent() || undefined, {
      provider: r.getProvider() || undefined,
      protect: r.getProtect(),
      ignoreChanges: r.getIgnorechangesList(),
      dependencies: r.getDependenciesList(),
      propertyDependencies,
    });
    return register(req, (err, response) => {
      if (response) recorder.noteUrn(r.getType(), r.getName(), response.getUrn());
      callback(err, response);
    });
  };
  const full = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.includes(":") ? k : `${project}:${k}`, v]));
  pulumi.runtime.setAllConfig(
    full,
    secretKeys.map((k) => (k.includes(":") ? k : `${project}:${k}`)),
  );
  return recorder;
}

/** Waits until every registration the program started has been answered. */
export async function settle(): Promise<void> {
  await pulumi.runtime.disconnect();
}
