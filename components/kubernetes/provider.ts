/** The explicit Kubernetes and AWS providers, from the stack's config. Pure builders. */
import type * as aws from "@pulumi/aws";
import type * as k8s from "@pulumi/kubernetes";
import type { StackConfig } from "../../config";

export function providerArgs(k: StackConfig["kubernetes"]) {
  return {
    ...(k.kubeconfig ? { kubeconfig: k.kubeconfig } : {}),
    ...(k.context ? { context: k.context } : {}),
    // With a render directory the provider writes YAML there instead of talking to a cluster.
    ...(k.renderDirectory ? { renderYamlToDirectory: k.renderDirectory } : {}),
    enableServerSideApply: true,
  } satisfies k8s.ProviderArgs;
}

/**
 * The AWS provider for the backup buckets and their IAM: pinned to the region WAL-G and the dump job
 * are told (postgres.archive.region), never the ambient AWS_REGION or profile of whoever runs `pulumi up`.
 */
export function awsProviderArgs(region: string) {
  return { region } satisfies aws.ProviderArgs;
}
