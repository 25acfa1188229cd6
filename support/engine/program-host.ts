/**
 * Stand-in for the Node.js language host (pulumi-language-nodejs), which the Go module proxy does
 * not serve. It does what the Automation API does for an inline program: it serves the Pulumi
 * LanguageRuntime over gRPC on loopback, runs this repository's index.ts in this process when the
 * engine asks, and starts the real CLI with `--client=<address>`, so the engine runs the program
 * through the runtime a user's `pulumi up` uses (the same @pulumi/pulumi).
 *
 *   tsx support/engine/program-host.ts <pulumi arguments...>
 *
 * The CLI is `pulumi` on PATH. The exit code is the CLI's. Commands that do not run the program
 * (stack init, config, export, destroy, ...) should call the CLI directly.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as pulumi from "@pulumi/pulumi";
import * as langrpc from "@pulumi/pulumi/proto/language_grpc_pb";

/** The Automation API's inline-program server (internal to @pulumi/pulumi: no type declarations). */
const { LanguageServer } = require("@pulumi/pulumi/automation/server") as {
  LanguageServer: new (program: () => Promise<Record<string, unknown>>) => grpc.UntypedServiceImplementation;
};

const REPO = resolve(__dirname, "..", "..");

/** The program: this repository's index.ts, or the file ENGINE_PROGRAM names (the benchmark's empty one). */
const PROGRAM = resolve(process.env.ENGINE_PROGRAM ?? resolve(__dirname, "..", "..", "index.ts"));

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.length === 0) {
    process.stderr.write("usage: program-host.ts <pulumi arguments...>\n");
    return 2;
  }
  const program = async () => {
    // A test's seeded change (ENGINE_TRANSFORM: a module exporting `transform`), registered as a
    // stack transform before the program runs, as a platform team's wrapper program would.
    if (process.env.ENGINE_TRANSFORM) {
      const { transform } = (await import(resolve(process.env.ENGINE_TRANSFORM))) as {
        transform: pulumi.ResourceTransform;
      };
      pulumi.runtime.registerResourceTransform(transform);
    }
    // The CLI asks for one Run per pass (`pulumi up` previews, then updates): each must register
    // every resource again, so the repository's modules are loaded afresh (a cached module would
    // register nothing, and the engine would delete the whole stack). @pulumi/* stay loaded: the
    // runtime settings live there and are reset by the server for each Run.
    for (const file of Object.keys(require.cache)) {
      if (file.startsWith(REPO) && !file.includes("/node_modules/")) delete require.cache[file];
    }
    return require(PROGRAM) as Record<string, unknown>;
  };
  const server = new grpc.Server({ "grpc.max_receive_message_length": 400 * 1024 * 1024 });
  const language = new LanguageServer(program);
  server.addService(langrpc.LanguageRuntimeService, language);
  const port = await new Promise<number>((done, fail) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? fail(err) : done(p))),
  );
  const cli = spawn("pulumi", [...args, `--client=127.0.0.1:${port}`], { stdio: "inherit" });
  const forward = (sig: NodeJS.Signals) => () => cli.kill(sig);
  process.on("SIGINT", forward("SIGINT"));
  process.on("SIGTERM", forward("SIGTERM"));
  const code = await new Promise<number>((done) => cli.on("exit", (c, sig) => done(c ?? (sig ? 128 : 1))));
  server.forceShutdown();
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
