/**
 * The upgrade order (issue 15, item 6), as Pulumi will carry it out: the pre-upgrade dump of the
 * release succeeds first, then main's Deployment changes (its start runs the migrations), then the
 * workers' and webhook processors' Deployments. Pulumi orders updates by dependencies, so these
 * tests read the dependency graph the program registers. test/faults/upgrade.test.ts runs that
 * order against two real n8n releases.
 */
import { describe, expect, it } from "vitest";
import { preUpgradeDumpName } from "../components/postgres/jobs";
import { dependencyGraph, findManifest, runProgram, runStackFile } from "./harness";

describe("the upgrade order", () => {
  it("dump, then main, then workers and webhook processors", async () => {
    const run = await runStackFile("prod");
    const deps = dependencyGraph(run).dependsOn;
    expect(deps("n8n-postgres-pre-upgrade-dump")).toContain("n8n-postgres-bootstrap");
    expect(deps("n8n-main-deployment")).toContain("n8n-postgres-pre-upgrade-dump");
    for (const d of ["n8n-workers-deployment", "n8n-webhooks-deployment"]) {
      expect(deps(d)).toContain("n8n-main-deployment");
      // Not on the dump directly: only through main, so they never start before main is ready.
      expect(deps(d)).not.toContain("n8n-postgres-pre-upgrade-dump");
    }
    const job = findManifest(run, "Job", preUpgradeDumpName("2.40.7"));
    const cron = findManifest(run, "CronJob", "n8n-postgres-dump");
    // The same pod as the nightly dump.
    expect((job.spec as { template: { spec: unknown } }).template.spec).toEqual(
      (cron.spec as { jobTemplate: { spec: { template: { spec: unknown } } } }).jobTemplate.spec.template.spec,
    );
  });

  it("no guard without the nightly dump, and none with an external PostgreSQL: main still comes before the others", async () => {
    const run = await runProgram("noguard", {
      domain: "n8n.example.com",
      webhooks: { enabled: true },
      postgres: { backup: { dump: { enabled: false } } },
    });
    expect(run.manifests.some((m) => m.metadata.name.startsWith("n8n-pre-upgrade-dump"))).toBe(false);
    expect(dependencyGraph(run).dependsOn("n8n-workers-deployment")).toContain("n8n-main-deployment");
  });
});
