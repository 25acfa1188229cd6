import * as pulumi from "@pulumi/pulumi";

/** The options of one component's children: `child()`, or `child({ dependsOn: [x] })` to add a child's own. */
export type Child = (own?: pulumi.CustomResourceOptions) => pulumi.CustomResourceOptions;

/**
 * The options every child of a component is created with: the component as parent, and what the
 * component is ordered after. Pulumi sends the engine a resource's own `dependsOn` only
 * (@pulumi/pulumi runtime/resource.js, `gatherExplicitDependencies(opts.dependsOn)`), so a
 * component's `dependsOn` orders the component and none of its children: without this, Redis's
 * StatefulSet is created beside the Secret its pods read, not after it. A child's own options are
 * merged in; its `dependsOn` adds to the component's (pulumi.mergeOptions).
 */
export function childrenOf(parent: pulumi.Resource, opts: pulumi.ResourceOptions | undefined): Child {
  const base: pulumi.CustomResourceOptions = { parent, dependsOn: opts?.dependsOn };
  return (own = {}) => pulumi.mergeOptions(base, own);
}
