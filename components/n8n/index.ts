/**
 * The n8n processes as components: N8nMain (editor/API), N8nWorkers (queue consumers, autoscaled)
 * and N8nWebhooks (webhook processors). Each only registers what the builders in workload.ts
 * return.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../../config";
import type { N8nRole } from "./env";
import {
  kedaScaledObject,
  kedaTriggerAuthentication,
  n8nDeployment,
  n8nHpa,
  n8nPdb,
  n8nService,
  type ScaledRole,
} from "./workload";

export interface N8nProcessArgs {
  config: StackConfig;
  namespace: pulumi.Input<string>;
}

/** Shared shape of the three n8n components: Deployment, Service and PDB of one role. */
abstract class N8nProcess extends pulumi.ComponentResource {
  readonly deployment: k8s.apps.v1.Deployment;
  readonly service: k8s.core.v1.Service;
  readonly serviceName: pulumi.Output<string>;

  protected constructor(
    type: string,
    role: N8nRole,
    name: string,
    args: N8nProcessArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(type, name, {}, opts);
    const { config, namespace } = args;
    const autoscaled = role !== "main";
    this.deployment = new k8s.apps.v1.Deployment(`${name}-deployment`, n8nDeployment(config, role, namespace), {
      parent: this,
      // The HPA (or KEDA) owns the replica count of autoscaled roles once they exist.
      ...(autoscaled ? { ignoreChanges: ["spec.replicas"] } : {}),
    });
    this.service = new k8s.core.v1.Service(`${name}-service`, n8nService(config, role, namespace), { parent: this });
    new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, n8nPdb(config, role, namespace), { parent: this });
    this.serviceName = this.service.metadata.name;
  }

  protected hpa(config: StackConfig, role: ScaledRole, name: string, namespace: pulumi.Input<string>) {
    return new k8s.autoscaling.v2.HorizontalPodAutoscaler(`${name}-hpa`, n8nHpa(config, role, namespace), {
      parent: this,
    });
  }
}

/** The editor and API: one replica unless multi-main, rolled out with Recreate. */
export class N8nMain extends N8nProcess {
  constructor(name: string, args: N8nProcessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:n8n:N8nMain", "main", name, args, opts);
    this.registerOutputs({ serviceName: this.serviceName });
  }
}

/** Queue consumers (`n8n worker`), scaled by an HPA on CPU and memory, or by KEDA on queue length. */
export class N8nWorkers extends N8nProcess {
  constructor(name: string, args: N8nProcessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:n8n:N8nWorkers", "worker", name, args, opts);
    const { config, namespace } = args;
    if (config.workers.queueScaling === "keda") {
      const auth = new k8s.apiextensions.CustomResource(
        `${name}-keda-auth`,
        kedaTriggerAuthentication(config, namespace),
        { parent: this },
      );
      new k8s.apiextensions.CustomResource(`${name}-scaledobject`, kedaScaledObject(config, namespace), {
        parent: this,
        dependsOn: [auth],
      });
    } else {
      this.hpa(config, "worker", name, namespace);
    }
    this.registerOutputs({ serviceName: this.serviceName });
  }
}

/** Webhook processors (`n8n webhook`) behind /webhook/, autoscaled. */
export class N8nWebhooks extends N8nProcess {
  constructor(name: string, args: N8nProcessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("n8n-cluster:n8n:N8nWebhooks", "webhook", name, args, opts);
    this.hpa(args.config, "webhook", name, args.namespace);
    this.registerOutputs({ serviceName: this.serviceName });
  }
}
