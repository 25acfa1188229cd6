import { PolicyPack } from "@pulumi/policy";
import { PACK_ENFORCEMENT, policies } from "./policies";

new PolicyPack("n8n-cluster", { policies, enforcementLevel: PACK_ENFORCEMENT });
