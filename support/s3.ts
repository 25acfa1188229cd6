/** s3rver (npm) as the S3 stand-in on loopback; scripts/real-setup.sh installs it in the cache. */
import { join } from "node:path";
import { NODE } from "./n8n";
import { CACHE, freePort, Server, scratchDir, waitFor } from "./servers";

export const S3RVER = join(CACHE, "s3rver-3.7.1", "node_modules", "s3rver", "bin", "s3rver.js");
/** s3rver's fixed credentials. */
export const S3RVER_KEYS = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };

export interface S3 {
  endpoint: string;
  dir: string;
  server: Server;
}

export async function startS3(buckets: string[]): Promise<S3> {
  const dir = scratchDir("s3rver");
  const port = await freePort();
  const server = new Server("s3rver", NODE, [
    S3RVER,
    "--directory",
    dir,
    "--address",
    "127.0.0.1",
    "--port",
    String(port),
    "--silent",
    ...buckets.flatMap((b) => ["--configure-bucket", b]),
  ]);
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor("s3rver", async () => ((await fetch(endpoint).catch(() => undefined)) ? true : undefined), 30_000);
  return { endpoint, dir, server };
}
