/**
 * A stand-in for the ingress controller: Debian's nginx configured from the rendered Ingress
 * objects, with the routing rules of the Kubernetes Ingress API (kubernetes.io docs, "Ingress",
 * Path types and Examples):
 * - `Exact` matches the URL path exactly;
 * - `Prefix` matches element by element on "/": `/form/` (= `/form`) matches `/form` and `/form/x`,
 *   never `/form-test/x`;
 * - among matches the longest path wins, and Exact wins over Prefix.
 * In nginx that is `location = /p` for Exact, and `location = /p` plus `location ^~ /p/` for Prefix
 * (nginx prefers an exact match, then the longest `^~` prefix); `/` is `location /`.
 * Each response carries the upstream it came from (X-Upstream), so a test can see which process
 * answered. TLS, rate limits and body size stay with the real controller.
 */
import { join } from "node:path";
import { edgeProps } from "../../components/edge";
import { ingressObjects } from "../../components/ingress";
import { parseStackConfig } from "../../config";
import type { Manifest } from "../../render/manifests";
import { freePort, Server, scratchDir, waitFor, writeFile } from "../../support/servers";
import { rawStackConfig } from "../harness";

interface IngressSpec {
  rules: {
    host: string;
    http: {
      paths: { path: string; pathType: string; backend: { service: { name: string; port: { number: number } } } }[];
    };
  }[];
}

/**
 * The Ingress objects a stack renders with edge.kind "ingress" (the stack files choose the
 * Gateway; the Ingress edge stays for existing users): the same pure functions the component uses.
 */
export function ingressEdgeOf(stack: string): Manifest[] {
  const raw = rawStackConfig(stack);
  const config = parseStackConfig(stack, { ...raw, edge: { ...((raw.edge as object) ?? {}), kind: "ingress" } });
  const { editor, webhooks } = ingressObjects(
    edgeProps(config, config.namespace),
    config.edge.ingress as NonNullable<typeof config.edge.ingress>,
  );
  return [editor, webhooks].map((i) => ({ apiVersion: "networking.k8s.io/v1", kind: "Ingress", ...i }) as Manifest);
}

export interface Route {
  path: string;
  pathType: string;
  service: string;
}

/** Every path rule of the rendered Ingresses for `host`. */
export function ingressRoutes(list: Manifest[], host: string): Route[] {
  return list
    .filter((m) => m.kind === "Ingress")
    .flatMap((m) => (m.spec as IngressSpec).rules.filter((r) => r.host === host))
    .flatMap((r) => r.http.paths.map((p) => ({ path: p.path, pathType: p.pathType, service: p.backend.service.name })));
}

/** nginx locations with the Ingress API's matching rules; `upstream` maps a Service name to host:port. */
export function nginxLocations(routes: Route[], upstream: (service: string) => string): string[] {
  const locations = new Map<string, string>();
  for (const r of routes) {
    if (r.pathType === "Exact") locations.set(`= ${r.path}`, r.service);
    else if (r.pathType !== "Prefix") throw new Error(`path type ${r.pathType} is not modelled`);
  }
  for (const r of routes.filter((x) => x.pathType === "Prefix")) {
    const p = r.path.replace(/\/+$/, "");
    if (p === "") locations.set("/", r.service);
    else {
      // An Exact rule for the same path wins over the Prefix one.
      if (!locations.has(`= ${p}`)) locations.set(`= ${p}`, r.service);
      locations.set(`^~ ${p}/`, r.service);
    }
  }
  return [...locations].map(([match, service]) => `location ${match} { proxy_pass http://${upstream(service)}; }`);
}

export interface Proxy {
  port: number;
  server: Server;
}

/** Starts nginx on loopback in front of the given Services. */
export async function startIngressProxy(
  list: Manifest[],
  host: string,
  services: Record<string, number>,
): Promise<Proxy> {
  const dir = scratchDir("ingress", "nobody");
  const port = await freePort();
  const upstream = (service: string) => {
    const p = services[service];
    if (p === undefined) throw new Error(`no process stands in for Service ${service}`);
    return `127.0.0.1:${p}`;
  };
  const conf = `user nobody nogroup;
worker_processes 1;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 256; }
http {
  access_log ${join(dir, "access.log")};
  client_body_temp_path ${join(dir, "body")};
  proxy_temp_path ${join(dir, "proxy")};
  fastcgi_temp_path ${join(dir, "fastcgi")};
  uwsgi_temp_path ${join(dir, "uwsgi")};
  scgi_temp_path ${join(dir, "scgi")};
  proxy_http_version 1.1;
  proxy_buffering off;
  proxy_set_header Host $host;
  proxy_set_header X-Forwarded-For $remote_addr;
  proxy_set_header X-Forwarded-Proto https;
  add_header X-Upstream $upstream_addr always;
  server {
    listen 127.0.0.1:${port};
    server_name ${host};
    ${nginxLocations(ingressRoutes(list, host), upstream).join("\n    ")}
  }
}
`;
  const file = join(dir, "nginx.conf");
  writeFile(file, conf, "nobody");
  const server = new Server("nginx", "/usr/sbin/nginx", [
    "-p",
    dir,
    "-c",
    file,
    "-e",
    join(dir, "error.log"),
    "-g",
    "daemon off;",
  ]);
  await waitFor(
    "nginx",
    async () => {
      if (!server.alive) throw new Error(`nginx exited: ${server.output.join("\n")}`);
      const res = await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
      return res ? true : undefined;
    },
    20_000,
    200,
  );
  return { port, server };
}
