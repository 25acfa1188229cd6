/**
 * Stand-in for the part of the Node.js language host (pulumi-language-nodejs, which the Go module
 * proxy does not serve) that runs a policy pack. The CLI 3.274 starts a pack directory through its
 * runtime's language host (pkg/resource/plugin/plugin.go ExecPlugin: LanguageRuntime.RunPlugin), so
 * this serves the LanguageRuntime service with GetPluginInfo and RunPlugin only: RunPlugin runs the
 * pack's own `@pulumi/pulumi/cmd/run-policy-pack` with node in the pack's directory and streams its
 * output and exit code back. Programs never reach it: support/engine/program-host.ts runs them
 * (the CLI's --client mode). Started as `pulumi-language-nodejs` by support/engine/bin/.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as langrpc from "@pulumi/pulumi/proto/language_grpc_pb";
import * as langproto from "@pulumi/pulumi/proto/language_pb";
import * as plugproto from "@pulumi/pulumi/proto/plugin_pb";

const RUNNER = join("node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack");

function envOf(list: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of list) {
    const at = entry.indexOf("=");
    if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return env;
}

const service = {
  getPluginInfo(_call: unknown, callback: grpc.sendUnaryData<plugproto.PluginInfo>) {
    callback(null, new plugproto.PluginInfo().setVersion("3.274.1"));
  },

  runPlugin(call: grpc.ServerWritableStream<langproto.RunPluginRequest, langproto.RunPluginResponse>) {
    const req = call.request;
    const kind = req.getKind();
    const dir = req.getInfo()?.getProgramDirectory() ?? req.getPwd();
    const fail = (message: string) => {
      call.write(new langproto.RunPluginResponse().setStderr(Buffer.from(`${message}\n`)));
      call.write(new langproto.RunPluginResponse().setExitcode(1));
      call.end();
    };
    if (kind !== "analyzer") return fail(`this stand-in language host runs policy packs only, not ${kind} plugins`);
    if (!existsSync(join(dir, RUNNER))) {
      // The CLI turns this exact message into "the policy pack's dependencies are not installed".
      return fail("Cannot find module '@pulumi/pulumi/cmd/run-policy-pack'");
    }
    // The CLI passes the engine's address (and its logging flags); the runner takes the address and
    // the pack's directory.
    const engine = req.getArgsList().find((a) => !a.startsWith("-")) ?? "";
    const child = spawn(process.execPath, [RUNNER, engine, "."], {
      cwd: dir,
      env: envOf(req.getEnvList()),
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (d: Buffer) => call.write(new langproto.RunPluginResponse().setStdout(d)));
    child.stderr.on("data", (d: Buffer) => call.write(new langproto.RunPluginResponse().setStderr(d)));
    child.on("close", (code) => {
      call.write(new langproto.RunPluginResponse().setExitcode(code ?? 1));
      call.end();
    });
    call.on("cancelled", () => child.kill("SIGTERM"));
  },
};

const server = new grpc.Server();
server.addService(langrpc.LanguageRuntimeService, service as unknown as grpc.UntypedServiceImplementation);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  // The plugin protocol: the port on stdout, alone.
  process.stdout.write(`${port}\n`);
});
