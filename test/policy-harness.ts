/**
 * Runs the policy pack's validators the way CrossGuard would, without the CLI: resource policies
 * per resource with complete args (notApplicable, stackTags, getConfig, isType, asType), stack
 * policies over every resource with parents and dependencies resolved.
 */
import type {
  EnforcementLevel,
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from "@pulumi/policy";
import { policies } from "../policies/policies";
import type { RecordedResource } from "../render/mocks";

class NotApplicable extends Error {}

type Policy = ResourceValidationPolicy | StackValidationPolicy;

export interface RunOptions {
  stackTags?: Record<string, string>;
  /** Policy config by policy name, as in a policy config file. */
  config?: Record<string, Record<string, unknown>>;
}

/** Defaults of a policy's config schema, overlaid with the given config. */
function configOf(policy: Policy, given: Record<string, unknown> = {}): Record<string, unknown> {
  const defaults = Object.fromEntries(
    Object.entries(policy.configSchema?.properties ?? {}).map(([k, schema]) => [
      k,
      (schema as { default?: unknown }).default,
    ]),
  );
  return { ...defaults, ...given };
}

const typeOf = (cls: unknown) => (cls as { __pulumiType?: string }).__pulumiType;

export function resourceArgs(
  policy: Policy,
  r: { type: string; name: string; urn?: string; inputs: Record<string, unknown>; protect?: boolean },
  opts: RunOptions = {},
): ResourceValidationArgs {
  const props = structuredClone(r.inputs);
  return {
    type: r.type,
    props,
    urn: r.urn ?? `urn:pulumi:test::n8n-cluster::${r.type}::${r.name}`,
    name: r.name,
    opts: {
      protect: r.protect ?? false,
      ignoreChanges: [],
      aliases: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
      additionalSecretOutputs: [],
    },
    stackTags: new Map(Object.entries(opts.stackTags ?? {})),
    isType: (cls) => typeOf(cls) === r.type,
    asType: ((cls: unknown) => (typeOf(cls) === r.type ? props : undefined)) as ResourceValidationArgs["asType"],
    getConfig: <T extends object>() => configOf(policy, opts.config?.[policy.name]) as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason);
    },
  };
}

export interface Outcome {
  violations: string[];
  notApplicable: boolean;
}

export async function validateResource(
  policy: ResourceValidationPolicy,
  r: Parameters<typeof resourceArgs>[1],
  opts: RunOptions = {},
): Promise<Outcome> {
  const violations: string[] = [];
  const validators = [policy.validateResource ?? []].flat();
  try {
    for (const v of validators) await v(resourceArgs(policy, r, opts), (m) => violations.push(m));
  } catch (err) {
    if (err instanceof NotApplicable) return { violations, notApplicable: true };
    throw err;
  }
  return { violations, notApplicable: false };
}

/** PolicyResources with parents and (property) dependencies linked, as CrossGuard hands them to stack policies. */
export function policyResources(recorded: RecordedResource[]): PolicyResource[] {
  const byUrn = new Map<string, PolicyResource>();
  const out = recorded.map((r) => {
    const resource = {
      type: r.type,
      props: structuredClone(r.inputs),
      urn: r.urn,
      name: r.name,
      opts: {
        protect: r.protect,
        ignoreChanges: r.ignoreChanges,
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
      },
      dependencies: [] as PolicyResource[],
      propertyDependencies: {} as Record<string, PolicyResource[]>,
      isType: (cls: unknown) => typeOf(cls) === r.type,
      asType: () => undefined,
    } as unknown as PolicyResource;
    byUrn.set(r.urn, resource);
    return resource;
  });
  recorded.forEach((r, i) => {
    const resource = out[i] as PolicyResource;
    const resolve = (urns: string[]) =>
      urns.map((u) => byUrn.get(u)).filter((x): x is PolicyResource => x !== undefined);
    resource.dependencies.push(...resolve(r.dependencies));
    for (const [k, urns] of Object.entries(r.propertyDependencies)) resource.propertyDependencies[k] = resolve(urns);
    const parent = recorded.find((p) => p.name === r.parent);
    if (parent) resource.parent = byUrn.get(parent.urn);
  });
  return out;
}

export async function validateStack(
  policy: StackValidationPolicy,
  recorded: RecordedResource[],
  opts: RunOptions = {},
): Promise<string[]> {
  const violations: string[] = [];
  try {
    await policy.validateStack(
      {
        resources: policyResources(recorded),
        stackTags: new Map(Object.entries(opts.stackTags ?? {})),
        getConfig: <T extends object>() => configOf(policy, opts.config?.[policy.name]) as T,
        notApplicable: (reason?: string): never => {
          throw new NotApplicable(reason);
        },
      },
      (m) => violations.push(m),
    );
  } catch (err) {
    if (!(err instanceof NotApplicable)) throw err;
  }
  return violations;
}

export interface Violation {
  policy: string;
  level: EnforcementLevel;
  message: string;
  resource?: string;
}

/** Every policy of the pack over a stack's resources. */
export async function evaluatePack(recorded: RecordedResource[], opts: RunOptions = {}): Promise<Violation[]> {
  const out: Violation[] = [];
  for (const policy of policies) {
    const level = policy.enforcementLevel ?? "mandatory";
    if ("validateStack" in policy) {
      for (const message of await validateStack(policy, recorded, opts))
        out.push({ policy: policy.name, level, message });
    } else {
      for (const r of recorded.filter((x) => x.custom)) {
        const { violations } = await validateResource(policy, r, opts);
        for (const message of violations) out.push({ policy: policy.name, level, message, resource: r.name });
      }
    }
  }
  return out;
}
