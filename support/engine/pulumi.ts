/**
 * The real Pulumi CLI (built by scripts/engine-setup.sh) on a fresh local backend with passphrase
 * secrets, one scratch project directory per stack holding copies of Pulumi.yaml and the stack's
 * Pulumi.<stack>.yaml (stack init writes its salt there, never into the repository's file).
 *
 * `program()` runs a command that runs index.ts, through support/engine/program-host.ts (the
 * stand-in for the Node language host); `cli()` runs one that does not.
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROOT, type Run, runCommand, scratchDir } from "../servers";
import { ENGINE_BIN, engineBinary } from "./controlplane";

export const PROVIDERS_BIN = join(ROOT, "support", "engine", "providers", "bin");
const TSX = join(ROOT, "node_modules", ".bin", "tsx");
const PROGRAM_HOST = join(ROOT, "support", "engine", "program-host.ts");

export class PulumiRunError extends Error {
  constructor(
    readonly args: string[],
    readonly run: Run,
  ) {
    super(
      `pulumi ${args.join(" ")} exited ${run.code}\n--- stdout\n${run.stdout.slice(-20_000)}\n--- stderr\n${run.stderr.slice(-5_000)}`,
    );
  }
}

export interface RunOptions {
  timeoutMs?: number;
  /** Return a failed run instead of throwing. */
  allowFailure?: boolean;
  env?: Record<string, string>;
}

export interface StackOptions {
  kubeconfig: string;
  awsEndpoint: string;
  /** Extra environment for every command. */
  env?: Record<string, string>;
}

export class EngineStack {
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly passphrase = randomBytes(16).toString("hex");

  private constructor(
    readonly stack: string,
    options: StackOptions,
  ) {
    const base = scratchDir(`engine-${stack}`);
    this.dir = join(base, "project");
    mkdirSync(this.dir);
    mkdirSync(join(base, "state"));
    copyFileSync(join(ROOT, "Pulumi.yaml"), join(this.dir, "Pulumi.yaml"));
    const stackFile = join(ROOT, `Pulumi.${stack}.yaml`);
    if (existsSync(stackFile)) copyFileSync(stackFile, join(this.dir, `Pulumi.${stack}.yaml`));
    engineBinary("pulumi");
    this.env = {
      PATH: [
        ENGINE_BIN,
        PROVIDERS_BIN,
        join(ROOT, "support", "engine", "bin"),
        dirname(process.execPath),
        process.env.PATH ?? "/usr/bin:/bin",
      ].join(":"),
      HOME: process.env.HOME ?? "/root",
      PULUMI_HOME: join(base, "pulumi-home"),
      PULUMI_BACKEND_URL: `file://${join(base, "state")}`,
      PULUMI_CONFIG_PASSPHRASE: this.passphrase,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
      KUBECONFIG: options.kubeconfig,
      STANDIN_AWS_ENDPOINT: options.awsEndpoint,
      ...options.env,
    };
  }

  static async init(stack: string, options: StackOptions): Promise<EngineStack> {
    const s = new EngineStack(stack, options);
    await s.cli(["stack", "init", stack]);
    return s;
  }

  /** A command that does not run the program. */
  async cli(args: string[], options: { timeoutMs?: number; allowFailure?: boolean } = {}): Promise<Run> {
    const full = [...args, "--non-interactive"];
    const run = await runCommand(join(ENGINE_BIN, "pulumi"), full, {
      cwd: this.dir,
      env: this.env,
      timeoutMs: options.timeoutMs ?? 120_000,
    });
    if (run.code !== 0 && !options.allowFailure) throw new PulumiRunError(full, run);
    return run;
  }

  /** A command that runs index.ts (preview, up, refresh). */
  async program(args: string[], options: RunOptions = {}): Promise<Run> {
    const full = [...args, "--stack", this.stack, "--non-interactive"];
    const run = await runCommand(TSX, [PROGRAM_HOST, ...full], {
      cwd: this.dir,
      env: { ...this.env, ...options.env },
      timeoutMs: options.timeoutMs ?? 900_000,
    });
    if (run.code !== 0 && !options.allowFailure) throw new PulumiRunError(full, run);
    return run;
  }

  up(extra: string[] = [], options?: RunOptions): Promise<Run> {
    return this.program(["up", "--yes", "--skip-preview", ...extra], options);
  }

  preview(extra: string[] = [], options?: RunOptions): Promise<Run> {
    return this.program(["preview", ...extra], options);
  }

  async exportState(): Promise<{ text: string; deployment: Deployment }> {
    const run = await this.cli(["stack", "export", "--stack", this.stack]);
    return { text: run.stdout, deployment: JSON.parse(run.stdout).deployment as Deployment };
  }

  /** `pulumi config set`; with `path`, KEY is a path into an object value (workers.concurrency). */
  async configSet(key: string, value: string, secret = false, path = false): Promise<void> {
    const flags = [...(secret ? ["--secret"] : []), ...(path ? ["--path"] : [])];
    await this.cli(["config", "set", "--stack", this.stack, ...flags, key, value]);
  }
}

export interface StateResource {
  urn: string;
  type: string;
  id?: string;
  custom: boolean;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  protect?: boolean;
  retainOnDelete?: boolean;
  dependencies?: string[];
  parent?: string;
}

export interface Deployment {
  resources: StateResource[];
}

/** The `--json` output of `pulumi preview`: each step's operation and URN. */
export interface PreviewJson {
  steps: { op: string; urn: string; diffReasons?: string[]; replaceReasons?: string[]; detailedDiff?: unknown }[];
  changeSummary: Record<string, number>;
  diagnostics?: { message: string; severity: string; urn?: string }[];
}

export function previewJson(run: Run): PreviewJson {
  return JSON.parse(run.stdout) as PreviewJson;
}
