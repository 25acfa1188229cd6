import { describe, expect, it } from "vitest";
import { SECRETS } from "../components/kubernetes/names";
import { SECRET_VALUES, secretObject } from "../components/secrets";
import { findManifest, isSecretOutput, outputValue, runProgram } from "./harness";

const ctx = { instance: "t", version: "2.40.7" };

describe("secretObject (pure)", () => {
  it("maps logical keys to the Secret's keys, with labels and namespace", () => {
    const s = secretObject("postgres", "ns", ctx, { appPassword: "x" });
    expect(s.metadata.name).toBe(SECRETS.postgres.name);
    expect(s.metadata.namespace).toBe("ns");
    expect(s.metadata.labels["app.kubernetes.io/component"]).toBe("secrets");
    expect(s.stringData).toEqual({ "app-password": "x" });
  });

  it("refuses a key its group does not declare", () => {
    expect(() => secretObject("redis", "ns", ctx, { encryptionKey: "x" })).toThrow(/no key encryptionKey/);
  });

  it("every declared Secret key has exactly one value spec", () => {
    const declared = Object.entries(SECRETS).flatMap(([g, s]) => Object.keys(s.keys).map((k) => `${g}.${k}`));
    const specs = SECRET_VALUES.flatMap((v) =>
      [v.key, ...(v.bcryptHashAs ? [v.bcryptHashAs] : [])].map((k) => `${v.group}.${k}`),
    );
    expect(specs.sort()).toEqual(declared.sort());
    for (const v of SECRET_VALUES) expect(v.length).toBeGreaterThanOrEqual(32);
  });
});

describe("N8nSecrets under mocks", () => {
  it("generates every value when no stack secret is set, and the outputs are secret", async () => {
    const run = await runProgram("gen", { domain: "n8n.example.com" });
    const passwords = run.resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword");
    expect(passwords).toHaveLength(SECRET_VALUES.length);
    for (const p of passwords) {
      expect(p.inputs.special).toBe(false);
      expect(p.inputs.length as number).toBeGreaterThanOrEqual(32);
      expect(p.parent).toBe("n8n-secrets");
    }
    const key = run.exports.encryptionKey as Parameters<typeof outputValue>[0];
    expect(await isSecretOutput(key)).toBe(true);
    expect(run.secretValues).toContain(await outputValue(key));
    // The Secret object carries the value under its declared key (redacted in manifests).
    const core = findManifest(run, "Secret", SECRETS.n8n.name);
    expect(core.metadata.namespace).toBe("n8n");
    expect(Object.keys(core.stringData as object).sort()).toEqual([
      "encryption-key",
      "owner-password",
      "owner-password-hash",
      "runners-auth-token",
    ]);
    const owner = run.exports.ownerPassword as Parameters<typeof outputValue>[0];
    expect(await isSecretOutput(owner)).toBe(true);
    expect(run.secretValues).toContain(await outputValue(owner));
    expect((core.stringData as Record<string, string>)["encryption-key"]).toBe("<secret:n8n-core/encryption-key>");
  });

  it("uses the stack secret for the encryption key instead of generating one", async () => {
    const configured = "configured-encryption-key-0123456789abcdef";
    const run = await runProgram("cfg", { domain: "n8n.example.com" }, { encryptionKey: configured });
    const passwords = run.resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword");
    expect(passwords.map((p) => p.name)).not.toContain("n8n-secrets-n8n-encryptionKey");
    expect(passwords).toHaveLength(SECRET_VALUES.length - 1);
    const key = run.exports.encryptionKey as Parameters<typeof outputValue>[0];
    expect(await outputValue(key)).toBe(configured);
    expect(await isSecretOutput(key)).toBe(true);
  });

  it("protects the generated encryption key in production stacks only", async () => {
    // (The data stores' StatefulSets are protected in every stack: test/postgres.test.ts.)
    const protectedNames = (run: Awaited<ReturnType<typeof runProgram>>) =>
      run.resources.filter((r) => r.protect && r.type.startsWith("random:")).map((r) => r.name);
    const staging = await runProgram("s", { domain: "n8n.example.com" });
    expect(protectedNames(staging)).toEqual([]);
    const prod = await runProgram("p", {
      domain: "n8n.example.com",
      production: true,
      workers: { minReplicas: 2 },
      postgres: { instances: 2 },
    });
    expect(protectedNames(prod)).toEqual(["n8n-secrets-n8n-encryptionKey"]);
  });

  it("rejects a short configured encryption key without printing it", async () => {
    const short = "too-short-key";
    await expect(runProgram("short", { domain: "n8n.example.com" }, { encryptionKey: short })).rejects.toThrow(
      /encryptionKey \("<secret of 13 characters>"\) must be at least 32 characters/,
    );
    await runProgram("short", { domain: "n8n.example.com" }, { encryptionKey: short }).catch((err: Error) => {
      expect(err.message).not.toContain(short);
    });
  });
});
