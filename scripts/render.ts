/**
 * Offline render (the render contract, README: Quick start): `npm run render -- <stack>` runs index.ts under the Pulumi mock
 * runtime with the config of Pulumi.<stack>.yaml and writes out/<stack>/manifests.yaml and
 * out/<stack>/resources.json, then prints a summary. No Pulumi CLI, cluster or cloud account needed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "../components/kubernetes/names";
import { renderFiles, runStack } from "../render/run";
import { listStacks, readStackFile } from "../render/stack-files";

const ROOT = resolve(__dirname, "..");

function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** `<stack> [--config-dir DIR]`: DIR holds the Pulumi.<stack>.yaml files (default: the project). */
function parseArgs(argv: string[]): { stack?: string; configDir: string } {
  const at = argv.indexOf("--config-dir");
  const configDir = at >= 0 ? resolve(argv[at + 1] ?? ".") : ROOT;
  const rest = at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 2)] : argv;
  return { stack: rest[0], configDir };
}

async function main(): Promise<void> {
  const { stack, configDir } = parseArgs(process.argv.slice(2));
  const stacks = listStacks(configDir);
  if (!stack) fail(`usage: npm run render -- <stack>; stacks: ${stacks.join(", ")}`, 2);
  const file = readStackFile(configDir, stack, PROJECT);
  if (!file) fail(`no stack "${stack}" (no Pulumi.${stack}.yaml); stacks: ${stacks.join(", ")}`, 2);

  let run: Awaited<ReturnType<typeof runStack>>;
  try {
    run = await runStack({ project: PROJECT, stack, ...file, load: () => import("..") });
  } catch (err) {
    // Config mistakes arrive as RunError with the readable message: print it alone.
    if (pulumi.RunError.isInstance(err)) fail((err as Error).message);
    throw err;
  }
  const files = renderFiles(run);
  const dir = join(ROOT, "out", stack);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "manifests.yaml"), files.manifestsYaml);
  writeFileSync(join(dir, "resources.json"), files.resourcesJson);
  process.stdout.write(files.summary);
  process.stdout.write(`\nwrote out/${stack}/manifests.yaml and out/${stack}/resources.json\n`);
}

main().catch((err: unknown) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err)));
