/**
 * The n8n processes as components: N8nMain (editor/API), N8nWorkers (queue consumers, autoscaled)
 * and N8nWebhooks (webhook processors). Each only registers what the builders in workload.ts
 * return.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type Child, childrenOf } from "../children";
import type { N8nRole } from "./env";
import type { N8nProps } from "./props";
import {
  kedaScaledObject,
  kedaTriggerAuthentication,
  n8nDeployment,
  n8nHpa,
  n8nPdb,
  n8nService,
  type ScaledRole,
} from "./workload";

/** Shared shape of the three n8n components: Deployment, Service and PDB of one role. */
abstract class N8nProcess extends pulumi.ComponentResource {
  readonly deployment: k8s.apps.v1.Deployment;
  readonly service: k8s.core.v1.Service;
  readonly serviceName: pulumi.Output<string>;
  protected readonly child: Child;

  protected constructor(
    type: string,
    role: N8nRole,
    name: string,
    props: N8nProps,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(type, name, {}, opts);
    // Every child comes after what the cluster orders before this role: the pods change only
    // after the upgrade guard (main), or after main (workers, webhook processors).
    this.child = childrenOf(this, opts);
    const autoscaled = role !== "main";
    this.deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      n8nDeployment(props, role),
      // The HPA (or KEDA) owns the replica count of autoscaled roles once they exist.
      this.child(autoscaled ? { ignoreChanges: ["spec.replicas"] } : {}),
    );
    this.service = new k8s.core.v1.Service(`${name}-service`, n8nService(props, role), this.child());
    new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, n8nPdb(props, role), this.child());
    this.serviceName = this.service.metadata.name;
  }

  protected hpa(props: N8nProps, role: ScaledRole, name: string) {
    return new k8s.autoscaling.v2.HorizontalPodAutoscaler(`${name}-hpa`, n8nHpa(props, role), this.child());
  }
}

/** The editor and API: one replica unless multi-main, rolled out with Recreate. */
export class N8nMain extends N8nProcess {
  constructor(name: string, props: N8nProps, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:n8n:N8nMain", "main", name, props, opts);
    this.registerOutputs({ serviceName: this.serviceName });
  }
}

/** Queue consumers (`n8n worker`), scaled by an HPA on CPU and memory, or by KEDA on queue length. */
export class N8nWorkers extends N8nProcess {
  constructor(name: string, props: N8nProps, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:n8n:N8nWorkers", "worker", name, props, opts);
    if (props.workers.queueScaling === "keda") {
      const auth = new k8s.apiextensions.CustomResource(
        `${name}-keda-auth`,
        kedaTriggerAuthentication(props),
        this.child(),
      );
      new k8s.apiextensions.CustomResource(
        `${name}-scaledobject`,
        kedaScaledObject(props),
        this.child({ dependsOn: [auth] }),
      );
    } else {
      this.hpa(props, "worker", name);
    }
    this.registerOutputs({ serviceName: this.serviceName });
  }
}

/** Webhook processors (`n8n webhook`) behind /webhook/, autoscaled. */
export class N8nWebhooks extends N8nProcess {
  constructor(name: string, props: N8nProps, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:n8n:N8nWebhooks", "webhook", name, props, opts);
    this.hpa(props, "webhook", name);
    this.registerOutputs({ serviceName: this.serviceName });
  }
}

export { type N8nProps, n8nProps } from "./props";
