/**
 * Runs n8n's own object-storage code, from an installed n8n, with the environment it is started
 * with (the rendered env of an n8n container): @n8n/config reads the N8N_EXTERNAL_STORAGE_S3_*
 * settings, ObjectStoreService checks the bucket (HeadBucket) the way n8n's start does, then the
 * binary-data manager and the execution-data store n8n uses in s3 mode write, read and delete.
 *
 *   node n8n-object-store.cjs <path of n8n's package.json>
 *
 * Prints one line, RESULT and JSON, with what happened (n8n's own log lines may be JSON too); exits 1 with the error when n8n's code fails.
 */
const { createRequire } = require("node:module");
const { dirname, join } = require("node:path");

async function main() {
  const n8nPackage = process.argv[2];
  const req = createRequire(n8nPackage);
  req("reflect-metadata");
  const { Container } = req("@n8n/di");
  const { ObjectStoreService } = req("@n8n/blob-storage/object-store");
  const { S3ByteStore } = req("@n8n/blob-storage");
  const { BinaryDataBlobManager } = req("n8n-core");
  const { ExecutionDataJsonStore } = req(
    join(dirname(n8nPackage), "dist", "executions", "execution-data", "execution-data-json-store.js"),
  );

  const store = Container.get(ObjectStoreService);
  await store.init();
  const reporter = { warn() {}, error() {} };
  const binary = new BinaryDataBlobManager(new S3ByteStore(store), reporter);
  const location = { type: "execution", workflowId: "wf-objects", executionId: "42" };
  const payload = Buffer.from(`binary data of execution 42 ${"x".repeat(4096)}`);
  const { fileId, fileSize } = await binary.store(location, payload, { mimeType: "text/plain", fileName: "a b.txt" });
  const readBack = await binary.getAsBuffer(fileId);
  const metadata = await binary.getMetadata(fileId);

  const executions = Container.get(ExecutionDataJsonStore);
  executions.registerByteStore("s3", new S3ByteStore(store));
  const ref = { workflowId: "wf-objects", executionId: "42", storedAt: "s3" };
  await executions.write(ref, { data: "[]", workflowData: { id: "wf-objects" } }, "s3");
  const bundle = await executions.read(ref, "s3");

  const keys = async () => (await store.list("workflows/wf-objects/")).map((o) => o.key).sort();
  const stored = await keys();
  // What n8n's pruning does for an execution (execution-persistence.js hardDelete): the binary
  // data by location, the execution-data bundle by key.
  await binary.deleteMany([location]);
  await executions.delete([ref]);
  const afterPrune = await keys();
  // What n8n does for single files it drops (deleteManyByFileId), e.g. a replaced attachment.
  await binary.deleteManyByFileId([fileId]);
  const afterFileDelete = await keys();

  console.log(
    `RESULT ${JSON.stringify({
      endpoint: store.endpoint ?? null,
      bucket: store.bucket,
      fileId,
      fileSize,
      roundTrip: readBack.equals(payload),
      metadata,
      bundleRead: bundle !== null,
      stored,
      afterPrune,
      afterFileDelete,
    })}`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err?.stack ? err.stack : String(err));
    process.exit(1);
  },
);
