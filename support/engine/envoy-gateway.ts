/**
 * Envoy Gateway v1.9 (built from its Go module by scripts/engine-setup.sh) against the engine
 * loop's API server: its Kubernetes resource provider reads GatewayClasses, Gateways, HTTPRoutes,
 * Services, EndpointSlices and its own policies from there and writes their status; its Host
 * infrastructure runs the Envoy proxy as a child process (func-e, with the release binary already
 * in place, so nothing is downloaded) instead of a Deployment.
 *
 * Both bind fixed ports on every address (xDS 18000, health 8081, metrics 19001, the listeners),
 * so they run in a network namespace the test creates; the API server is reached through a relay
 * on the namespace's host address. What stands in for the cluster: that relay, and the
 * EndpointSlices the test writes for the n8n processes (no kubelet runs them).
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createNetns, type Netns, relay } from "../netns";
import { runCommand, Server, scratchDir, waitFor } from "../servers";
import { type ControlPlane, engineBinary } from "./controlplane";
import { objectPath } from "./kube";

export const ENVOY_VERSION = "1.39.1";
export const CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller";
export const CONTROLLER_NAMESPACE = "envoy-gateway-system";

/** Envoy Gateway maps a listener port below 1024 to port + 10000 on the proxy (internal/gatewayapi). */
export const proxyPort = (listenerPort: number) => (listenerPort < 1024 ? listenerPort + 10_000 : listenerPort);

/**
 * What a platform team installs beside Envoy Gateway: the GatewayClass the stack names, with
 * EnvoyProxy parameters that pin the proxy's version (on the Host infrastructure EG v1.9 cannot
 * read it off its default image reference, whose digest has a colon, and would ask func-e's
 * download index for the latest).
 */
export function gatewayClassObjects(className: string) {
  return [
    {
      apiVersion: "gateway.envoyproxy.io/v1alpha1",
      kind: "EnvoyProxy",
      metadata: { name: "host-proxy", namespace: CONTROLLER_NAMESPACE },
      spec: { provider: { type: "Host", host: { envoyVersion: ENVOY_VERSION } } },
    },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: className },
      spec: {
        controllerName: CONTROLLER_NAME,
        parametersRef: {
          group: "gateway.envoyproxy.io",
          kind: "EnvoyProxy",
          name: "host-proxy",
          namespace: CONTROLLER_NAMESPACE,
        },
      },
    },
  ];
}

export interface EnvoyGateway {
  server: Server;
  netns: Netns;
  dir: string;
  stop(): Promise<void>;
}

export async function startEnvoyGateway(
  cp: ControlPlane,
  options: { hostAddresses?: number } = {},
): Promise<EnvoyGateway> {
  const dir = scratchDir("envoy-gateway");
  const netns = createNetns("eg", options.hostAddresses ?? 0);
  const relays: Server[] = [];
  let server: Server | undefined;
  const stop = async () => {
    await server?.stop(15_000);
    for (const r of relays) await r.stop(2_000);
    netns.remove();
  };
  try {
    // The API server, seen from the namespace.
    const api = new URL(/server: (\S+)/.exec(readFileSync(cp.kubeconfig, "utf8"))?.[1] as string);
    relays.push(await relay(netns.host, Number(api.port), { host: api.hostname, port: Number(api.port) }));
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      readFileSync(cp.kubeconfig, "utf8").replace(
        /server: \S+/,
        `server: https://${netns.host}:${api.port}\n    tls-server-name: ${api.hostname}`,
      ),
      { mode: 0o600 },
    );
    await cp.kube.apply(
      objectPath("v1", "Namespace", CONTROLLER_NAMESPACE),
      { apiVersion: "v1", kind: "Namespace", metadata: { name: CONTROLLER_NAMESPACE } },
      "engine-tests",
    );

    const paths = {
      configHome: join(dir, "config"),
      dataHome: join(dir, "data"),
      stateHome: join(dir, "state"),
      runtimeDir: join(dir, "run"),
    };
    const envoyDir = join(paths.dataHome, "envoy-versions", ENVOY_VERSION, "bin");
    mkdirSync(envoyDir, { recursive: true });
    symlinkSync(engineBinary("envoy"), join(envoyDir, "envoy"));
    const config = join(dir, "envoy-gateway.yaml");
    writeFileSync(
      config,
      JSON.stringify({
        apiVersion: "gateway.envoyproxy.io/v1alpha1",
        kind: "EnvoyGateway",
        gateway: { controllerName: CONTROLLER_NAME },
        provider: {
          type: "Custom",
          custom: {
            resource: { type: "Kubernetes", kubernetes: {} },
            infrastructure: { type: "Host", host: paths },
          },
        },
        logging: { level: { default: "info" } },
      }),
    );
    // The certificates, as a cluster gets them: `certgen` writes the Secrets envoy-gateway (xDS
    // server), envoy (proxy client), envoy-rate-limit and envoy-oidc-hmac into the controller
    // namespace, where the Kubernetes provider reads them. A Deployment would mount envoy-gateway
    // on /certs (internal/xds/runner reads it there): it is bound onto /certs inside the mount
    // namespace `ip netns exec` makes (the host's /certs stays an empty directory). The Host
    // infrastructure finds the proxy's client certificate under configHome/certs/envoy.
    const eg = engineBinary("envoy-gateway");
    const certgen = await runCommand(eg, ["certgen", "--disable-topology-injector"], {
      cwd: dir,
      env: {
        HOME: dir,
        PATH: process.env.PATH ?? "",
        KUBECONFIG: cp.kubeconfig,
        ENVOY_GATEWAY_NAMESPACE: CONTROLLER_NAMESPACE,
      },
      timeoutMs: 60_000,
    });
    if (certgen.code !== 0) throw new Error(`envoy-gateway certgen: ${certgen.stdout}\n${certgen.stderr}`);
    const secretFiles = async (name: string, to: string) => {
      const secret = await cp.kube.get(objectPath("v1", "Secret", name, CONTROLLER_NAMESPACE));
      mkdirSync(to, { recursive: true });
      for (const [key, value] of Object.entries((secret.data ?? {}) as Record<string, string>)) {
        writeFileSync(join(to, key), Buffer.from(value, "base64"), { mode: 0o600 });
      }
    };
    const serverCerts = join(dir, "certs");
    await secretFiles("envoy-gateway", serverCerts);
    await secretFiles("envoy", join(paths.configHome, "certs", "envoy"));
    mkdirSync("/certs", { recursive: true });
    const script = 'mount --bind "$1" /certs && exec "$2" server --config-path "$3"';
    server = new Server(
      "envoy-gateway",
      netns.exec[0] as string,
      [...netns.exec.slice(1), "sh", "-c", script, "sh", serverCerts, eg, config],
      { env: { KUBECONFIG: kubeconfig, HOME: dir, ENVOY_GATEWAY_NAMESPACE: CONTROLLER_NAMESPACE } },
    );
    const s = server;
    await waitFor(
      "envoy-gateway to start",
      () => (s.alive ? s.output.some((l) => l.includes("started")) || undefined : Promise.reject(new Error("exited"))),
      120_000,
      500,
    ).catch((e) => {
      throw new Error(`${e}\n${s.output.slice(-40).join("\n")}`);
    });
    return { server, netns, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
