/** Prints the n8n version a stack pins (`tsx scripts/n8n-version.ts staging`), for the real-server setup. */
import { resolve } from "node:path";
import { PROJECT } from "../components/kubernetes/names";
import { parseStackConfig } from "../config";
import { decodeProjectConfig } from "../config/pulumi";
import { readStackFile } from "../render/stack-files";

const stack = process.argv[2] ?? "staging";
const file = readStackFile(resolve(__dirname, ".."), stack, PROJECT);
if (!file) throw new Error(`no Pulumi.${stack}.yaml`);
process.stdout.write(parseStackConfig(stack, decodeProjectConfig(file.config, PROJECT)).n8n.version);
