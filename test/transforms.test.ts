/**
 * The escape hatch for anything the config does not model: a Pulumi stack transform registered in
 * index.ts (pulumi.runtime.registerResourceTransform) before the cluster is built. The mock runtime
 * applies it as the engine does, so the offline render shows what `pulumi up` would send.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { PROJECT } from "../components/kubernetes/names";
import { runStack } from "../render/run";
import { readStackFile } from "../render/stack-files";
import { loadProgram, ROOT } from "./harness";

/** The README's example: a team annotation on every Deployment's pods. */
const annotateDeployments: pulumi.ResourceTransform = async ({ type, props, opts }) => {
  if (type !== "kubernetes:apps/v1:Deployment") return undefined;
  const template = props.spec.template;
  const metadata = {
    ...template.metadata,
    annotations: { ...template.metadata?.annotations, "example.com/team": "platform" },
  };
  return { props: { ...props, spec: { ...props.spec, template: { ...template, metadata } } }, opts };
};

describe("a stack transform registered before the program", () => {
  it("changes exactly the resources it matches, in the render", async () => {
    const file = readStackFile(ROOT, "staging", PROJECT);
    if (!file) throw new Error("no Pulumi.staging.yaml");
    const run = await runStack({
      project: PROJECT,
      stack: "staging",
      ...file,
      load: async () => {
        pulumi.runtime.registerResourceTransform(annotateDeployments);
        return loadProgram();
      },
    });
    const marked = run.manifests.filter((m) => JSON.stringify(m).includes('"example.com/team":"platform"'));
    expect(marked.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      "Deployment/n8n-main",
      "Deployment/n8n-worker",
    ]);
    for (const d of marked) {
      const template = (d.spec as { template: { metadata: { annotations: Record<string, string> } } }).template;
      expect(template.metadata.annotations["example.com/team"]).toBe("platform");
    }
  });
});
