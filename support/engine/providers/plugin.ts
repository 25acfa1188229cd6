/**
 * What the stand-in provider plugins (random.ts, aws.ts) share: resource types as data (their inputs,
 * which inputs replace, their CRUD), the Provider of @pulumi/pulumi/provider built from them, the
 * secret and unknown encodings of the wire, and `serve`, which adds the provider configuration calls
 * that @pulumi/pulumi/provider's server leaves out.
 */
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import type * as Grpc from "@grpc/grpc-js";
import type { CheckFailure, CheckResult, DiffResult, Provider, ReadResult } from "@pulumi/pulumi/provider";
import { main } from "@pulumi/pulumi/provider";
import { specialResourceSig, specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";

export type Props = Record<string, unknown>;

/**
 * A secret output. The server hands `outs` to Struct.fromJavaScript unchanged, so the engine sees the
 * secret signature object (sdk/go/common/resource/properties.go) and keeps the value a secret, which
 * the state then holds only as ciphertext.
 */
export function secret(value: unknown): Props {
  return { [specialSigKey]: specialSecretSig, value };
}

function isSigned(value: unknown, sig: string): value is Props {
  return typeof value === "object" && value !== null && (value as Props)[specialSigKey] === sig;
}

/** The plain value: secrets unwrapped, resource references as their ID (as the bridged providers read them). */
export function reveal(value: unknown): unknown {
  if (isSigned(value, specialSecretSig)) return reveal(value.value);
  if (isSigned(value, specialResourceSig)) return value.id;
  if (Array.isArray(value)) return value.map(reveal);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
  }
  return value;
}

/** An input not known yet (preview): the engine sends it as this string. */
export function isUnknown(value: unknown): boolean {
  return value === unknownValue;
}

/** An input left out: undefined, null, "" and empty lists and maps (Terraform's view, so `tags: {}` is no change). */
function absent(value: unknown): boolean {
  if (value === undefined || value === null || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.keys(value).length === 0;
  return false;
}

function same(a: unknown, b: unknown): boolean {
  if (absent(a) && absent(b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (typeof a === "object" && a !== null && typeof b === "object" && b !== null && !Array.isArray(a)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => same((a as Props)[k], (b as Props)[k]));
  }
  return a === b;
}

/** Typed reads of a plain (revealed) property bag. */
export function str(props: Props, key: string): string | undefined {
  const v = props[key];
  return typeof v === "string" && v !== "" ? v : undefined;
}

export function num(props: Props, key: string): number | undefined {
  const v = props[key];
  return typeof v === "number" ? v : undefined;
}

export function bool(props: Props, key: string): boolean | undefined {
  const v = props[key];
  return typeof v === "boolean" ? v : undefined;
}

export function obj(props: Props, key: string): Props | undefined {
  const v = props[key];
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Props) : undefined;
}

export function list(props: Props, key: string): Props[] {
  const v = props[key];
  return Array.isArray(v) ? (v.filter((x) => typeof x === "object" && x !== null) as Props[]) : [];
}

export function stringMap(props: Props, key: string): Record<string, string> {
  return Object.fromEntries(Object.entries(obj(props, key) ?? {}).filter(([, v]) => typeof v === "string")) as Record<
    string,
    string
  >;
}

/** The name part of a URN (`urn:pulumi:stack::project::type::name`). */
export function urnName(urn: string): string {
  return urn.split("::")[3] ?? "";
}

/** The type token of a URN, without its parents. */
export function urnType(urn: string): string {
  return (urn.split("::")[2] ?? "").split("$").pop() ?? "";
}

/** The version of the npm SDK a stand-in stands in for: the engine asks the plugin of that version. */
export function sdkVersion(pkg: "random" | "aws"): string {
  const file = require.resolve(`@pulumi/${pkg}/package.json`);
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

/** One resource type of a stand-in. Every method gets plain values (secrets revealed), `raw` the wire's. */
export interface ResourceType {
  /** The inputs the stand-in implements: any other input fails `check`, rather than being ignored. */
  readonly inputs: readonly string[];
  /** The inputs whose change replaces the resource (the real provider's ForceNew / RequiresReplace). */
  readonly replaceOnChange: readonly string[];
  /** Optional inputs the provider fills in when left out (Optional+Computed): leaving them out is no change. */
  readonly computed?: readonly string[];
  /** The input that names the resource: a replacement keeping the name must delete the old one first. */
  readonly nameInput?: string;
  /** Defaults and validation; `olds` are the previous inputs (empty on create). Returns the inputs to use. */
  check?(news: Props, olds: Props, urn: string): { inputs: Props; failures: CheckFailure[] };
  /** Creates the resource; `raw` are the inputs as the engine sent them, to be echoed in the outputs. */
  create(inputs: Props, raw: Props, urn: string): Promise<{ id: string; outs: Props }>;
  /** The live state, or undefined when the resource is gone. */
  read(id: string, state: Props, raw: Props): Promise<Props | undefined>;
  update(id: string, olds: Props, news: Props, raw: Props): Promise<Props>;
  delete(id: string, state: Props): Promise<void>;
}

/** The provider's own configuration (CheckConfig, Configure). */
export interface ProviderConfig {
  check(news: Props): CheckFailure[];
  configure(config: Props): void;
}

export interface StandInProvider extends Provider {
  readonly version: string;
  /** Configure: the provider resource's inputs (ConfigureRequest.args), plain. */
  configure(config: Props): Promise<void>;
  check(urn: string, olds: Props, news: Props): Promise<CheckResult>;
  diff(id: string, urn: string, olds: Props, news: Props): Promise<DiffResult>;
  create(urn: string, inputs: Props): Promise<{ id: string; outs: Props }>;
  read(id: string, urn: string, props?: Props): Promise<ReadResult>;
  update(id: string, urn: string, olds: Props, news: Props): Promise<{ outs: Props }>;
  delete(id: string, urn: string, props: Props): Promise<void>;
}

/** The Provider for `types` (keyed by type token); `pulumi:providers:<pkg>` URNs go to `config`. */
export function standInProvider(pkg: "random" | "aws", types: Record<string, ResourceType>, config?: ProviderConfig) {
  const providerType = `pulumi:providers:${pkg}`;
  const typeOf = (urn: string): ResourceType => {
    const t = types[urnType(urn)];
    if (!t) throw new Error(`the ${pkg} stand-in does not implement ${urnType(urn)} (${urn})`);
    return t;
  };
  const provider: StandInProvider = {
    version: sdkVersion(pkg),

    async configure(args) {
      config?.configure(reveal(args) as Props);
    },

    async check(urn, olds, news) {
      if (urnType(urn) === providerType) return { inputs: news, failures: config?.check(reveal(news) as Props) ?? [] };
      const t = typeOf(urn);
      const unsupported = Object.keys(news).filter(
        (k) => !k.startsWith("__") && !t.inputs.includes(k) && !absent(news[k]),
      );
      const failures = unsupported.map((property) => ({
        property,
        reason: `the ${pkg} stand-in does not implement ${property} of ${urnType(urn)}`,
      }));
      if (!t.check) return { inputs: news, failures };
      const checked = t.check(news, olds, urn);
      return { inputs: checked.inputs, failures: [...failures, ...checked.failures] };
    },

    async diff(_id, urn, olds, news) {
      const plainOlds = reveal(olds) as Props;
      const plainNews = reveal(news) as Props;
      if (urnType(urn) === providerType) {
        const keys = new Set([...Object.keys(plainOlds), ...Object.keys(plainNews)]);
        return { changes: [...keys].some((k) => !same(plainOlds[k], plainNews[k])) };
      }
      const t = typeOf(urn);
      const changed = t.inputs.filter(
        (k) => !(t.computed?.includes(k) && absent(plainNews[k])) && !same(plainOlds[k], plainNews[k]),
      );
      const replaces = changed.filter((k) => t.replaceOnChange.includes(k));
      const name = t.nameInput;
      const keepsName = name !== undefined && !absent(plainNews[name]) && same(plainNews[name], plainOlds[name]);
      return { changes: changed.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 && keepsName };
    },

    async create(urn, inputs) {
      return typeOf(urn).create(reveal(inputs) as Props, inputs, urn);
    },

    async read(id, urn, props = {}) {
      const live = await typeOf(urn).read(id, reveal(props) as Props, props);
      // An empty ID tells the engine the resource is gone.
      if (!live) return { id: "", props: {} };
      const t = typeOf(urn);
      const inputs = Object.fromEntries(t.inputs.filter((k) => live[k] !== undefined).map((k) => [k, live[k]]));
      return { id, props: live, inputs };
    },

    async update(id, urn, olds, news) {
      return { outs: await typeOf(urn).update(id, reveal(olds) as Props, reveal(news) as Props, news) };
    },

    async delete(id, urn, props) {
      await typeOf(urn).delete(id, reveal(props) as Props);
    },
  };
  return provider;
}

type Unary = (call: { request: unknown }, callback: (error: Error | null, response?: unknown) => void) => void;

interface ConfigureRequest {
  getArgs(): { toJavaScript(): Props } | undefined;
  getVariablesMap(): { forEach(f: (value: string, key: string) => void): void };
}

/**
 * Serves `provider` as the engine expects of a plugin: the port on stdout, nothing else there.
 *
 * @pulumi/pulumi/provider's server answers CheckConfig and DiffConfig with UNIMPLEMENTED and drops
 * Configure's variables. Its gRPC service object is private, so the one addService call of `main`
 * is intercepted: CheckConfig and DiffConfig are served by its Check and Diff (same messages, the
 * provider's own URN, which the provider routes to its config), and Configure first hands the
 * configuration to the provider.
 */
export async function serve(provider: StandInProvider, args: string[]): Promise<void> {
  // The @grpc/grpc-js that @pulumi/pulumi's server itself loads.
  const grpcPath = require.resolve("@grpc/grpc-js", { paths: [dirname(require.resolve("@pulumi/pulumi"))] });
  const grpc = require(grpcPath) as typeof Grpc;
  const addService = grpc.Server.prototype.addService;
  grpc.Server.prototype.addService = function (service, implementation) {
    grpc.Server.prototype.addService = addService;
    const impl = implementation as Record<string, Unary>;
    const check = impl.check as Unary;
    const diff = impl.diff as Unary;
    const configure = impl.configure as Unary;
    impl.checkConfig = (call, callback) => check.call(implementation, call, callback);
    impl.diffConfig = (call, callback) => diff.call(implementation, call, callback);
    impl.configure = (call, callback) => {
      const request = call.request as ConfigureRequest;
      // Configure sends the config twice: as the provider's inputs, and as `<pkg>:config:<key>` variables.
      const config: Props = {};
      request.getVariablesMap().forEach((value, key) => {
        config[key.split(":").pop() as string] = value;
      });
      Object.assign(config, request.getArgs()?.toJavaScript() ?? {});
      provider.configure(config).then(
        () => configure.call(implementation, call, callback),
        (err: Error) => callback(err),
      );
    };
    addService.call(this, service, implementation);
  };
  await main(provider, args);
}
