/** The explicit Kubernetes provider, from the stack's `kubernetes` config. Pure builder. */
import type { StackConfig } from "../config";

export function providerArgs(k: StackConfig["kubernetes"]) {
  return {
    ...(k.kubeconfig ? { kubeconfig: k.kubeconfig } : {}),
    ...(k.context ? { context: k.context } : {}),
    // With a render directory the provider writes YAML there instead of talking to a cluster.
    ...(k.renderDirectory ? { renderYamlToDirectory: k.renderDirectory } : {}),
    enableServerSideApply: true,
  };
}
