/**
 * The settings main writes from env at every start (issue 15, item 4): OIDC login, the security
 * policy and log-streaming destinations, each from its typed key, checked where n8n 2.40.7 puts
 * them (its instance-settings loaders write the settings and event_destinations tables). The
 * Secrets the keys name get test values here: the destinations' JSON and the OIDC client secret.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "../../support/cluster";
import { N8N } from "../../support/n8n";
import { stopAll } from "../../support/servers";
import { runProgram } from "../harness";

const CLIENT_SECRET = `oidc-secret-${randomUUID()}`;
const DESTINATION = {
  type: "webhook",
  id: randomUUID(),
  label: "SIEM",
  enabled: true,
  url: "https://siem.example.com/n8n",
  subscribedEvents: ["n8n.audit"],
};

/** An identity provider's SAML metadata (public: an entity ID, an endpoint and a signing certificate). */
const IDP_METADATA =
  '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com/saml"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/></IDPSSODescriptor></EntityDescriptor>';

let cluster: Cluster;

beforeAll(async () => {
  const run = await runProgram("settings", {
    domain: "n8n.example.com",
    n8n: {
      sso: {
        oidc: {
          discoveryEndpoint: "https://login.example.com/.well-known/openid-configuration",
          clientId: "n8n-prod",
          clientSecret: { name: "oidc", key: "client-secret" },
          additionalScopes: "groups",
        },
      },
      securityPolicy: { managedByEnv: true, mfaEnforced: true, personalSpaceSharing: false },
      logStreaming: { destinations: { name: "log-streaming", key: "destinations.json" } },
    },
  });
  cluster = await startCluster({
    stack: "staging",
    workflows: [],
    release: { list: run.manifests, bin: N8N },
  });
  // The two Secrets the stack names, as the cluster would hold them.
  await cluster.start("main", {
    N8N_SSO_OIDC_CLIENT_SECRET: CLIENT_SECRET,
    N8N_LOG_STREAMING_DESTINATIONS: JSON.stringify([DESTINATION]),
  });
});

afterAll(async () => {
  await cluster?.stop();
  await stopAll();
});

const setting = (key: string) => cluster.sql(`SELECT value FROM settings WHERE key = '${key}'`);

describe("instance settings managed by env, from the typed keys", () => {
  it("OIDC: main stores the provider, with the client secret encrypted", () => {
    const oidc = JSON.parse(setting("features.oidc")) as Record<string, unknown>;
    expect(oidc).toMatchObject({
      clientId: "n8n-prod",
      discoveryEndpoint: "https://login.example.com/.well-known/openid-configuration",
      loginEnabled: true,
      prompt: "select_account",
    });
    expect(String(oidc.clientSecret)).not.toContain(CLIENT_SECRET);
    expect(String(oidc.clientSecret).length).toBeGreaterThan(20);
  });

  it("security policy: main applies it (MFA enforcement stays off without an Enterprise licence)", () => {
    expect(setting("mfa.enforced")).toBe("false");
    expect(setting("security.personalSpaceSharing")).toBe("false");
    expect(setting("security.personalSpacePublishing")).toBe("true");
  });

  it("log streaming: the destination list replaces what was configured", () => {
    const rows = cluster.sql(`SELECT id, destination FROM event_destinations`).split("\n").filter(Boolean);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain(DESTINATION.id);
    expect(rows[0]).toContain("https://siem.example.com/n8n");
  });

  // Last: main of a SAML stack on the same database switches the instance from OIDC to SAML.
  it("SAML: main of a SAML stack stores the metadata from the ConfigMap and makes SAML the login method", async () => {
    const saml = await runProgram("settings-saml", {
      domain: "n8n.example.com",
      n8n: { sso: { saml: { metadata: { name: "idp", key: "metadata.xml" }, loginLabel: "Okta" } } },
    });
    // The ConfigMap the stack names, as the cluster would hold it.
    const idp = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "idp" },
      data: { "metadata.xml": IDP_METADATA },
    };
    await cluster.start("main", {}, { list: [...saml.manifests, idp], bin: N8N });
    expect(JSON.parse(setting("features.saml"))).toEqual({ metadata: IDP_METADATA, loginEnabled: true });
    expect(setting("userManagement.authenticationMethod")).toBe("saml");
  });
});
