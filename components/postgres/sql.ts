/**
 * SQL the cluster runs, as text builders: the least-privilege app user and database, the optional
 * integration outbox (claimed with FOR UPDATE SKIP LOCKED; README, PostgreSQL: Outbox) and its reaper. Pure; the Jobs mount these as files.
 */
import type { PostgresProps } from "./props";

/**
 * The idempotent create-or-update of a login role whose password comes from the environment:
 * statement logging off first, so the password never reaches the server log.
 */
function loginRoleSql(userVar: string, passwordVar: string, attributes: string): string {
  return `SET log_statement = 'none';
SET log_min_duration_statement = -1;
SELECT format('CREATE ROLE %I LOGIN', :'${userVar}')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'${userVar}') \\gexec
ALTER ROLE :"${userVar}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION ${attributes}PASSWORD :'${passwordVar}';
`;
}

/**
 * Idempotent psql script, run as the superuser. The app role owns its database and nothing else:
 * no superuser, createrole, createdb or replication. Its password is read from the environment
 * (\getenv, psql 15+) so it is on no command line, and statement logging is off for the session so
 * it never reaches the server log. The role carries n8n's statement timeout, so every session gets
 * it from the server without n8n setting it per query.
 */
export function appUserSql(): string {
  return `\\set ON_ERROR_STOP on
\\getenv app_password APP_PASSWORD
\\getenv app_user APP_USER
\\getenv app_db APP_DATABASE
\\getenv statement_timeout APP_STATEMENT_TIMEOUT
${loginRoleSql("app_user", "app_password", "NOBYPASSRLS ")}ALTER ROLE :"app_user" SET statement_timeout = :'statement_timeout';
SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_db') \\gexec
ALTER DATABASE :"app_db" OWNER TO :"app_user";
REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"app_db" TO :"app_user";
\\connect :"app_db"
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"app_user";
`;
}

/** postgres_exporter's role: pg_monitor, CONNECT on the app database, nothing else. Idempotent. */
export function monitoringUserSql(): string {
  return `\\set ON_ERROR_STOP on
\\getenv monitoring_user MONITORING_USER
\\getenv monitoring_password MONITORING_PASSWORD
\\getenv app_db APP_DATABASE
${loginRoleSql("monitoring_user", "monitoring_password", "CONNECTION LIMIT 5 ")}GRANT pg_monitor TO :"monitoring_user";
GRANT CONNECT ON DATABASE :"app_db" TO :"monitoring_user";
`;
}

/** The outbox and idempotency ledger, created in the app database and owned by the app role. */
export function outboxSchemaSql(): string {
  return `\\set ON_ERROR_STOP on
\\getenv app_user APP_USER
\\getenv app_db APP_DATABASE
\\connect :"app_db"
CREATE TABLE IF NOT EXISTS integration_outbox (
  id             bigserial PRIMARY KEY,
  event_type     text        NOT NULL,
  aggregate_type text        NOT NULL,
  aggregate_id   text        NOT NULL,
  event_key      text        NOT NULL,
  payload        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  status         text        NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'processing', 'done', 'failed')),
  attempts       integer     NOT NULL DEFAULT 0,
  available_at   timestamptz NOT NULL DEFAULT now(),
  locked_at      timestamptz,
  locked_by      text,
  last_error     text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  processed_at   timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS integration_outbox_event_key_key ON integration_outbox (event_key);
CREATE INDEX IF NOT EXISTS integration_outbox_pending_idx ON integration_outbox (status, available_at, created_at);
CREATE INDEX IF NOT EXISTS integration_outbox_aggregate_idx
  ON integration_outbox (aggregate_type, aggregate_id, created_at);
CREATE TABLE IF NOT EXISTS integration_idempotency (
  event_key  text        NOT NULL,
  action     text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_key, action)
);
ALTER TABLE integration_outbox OWNER TO :"app_user";
ALTER TABLE integration_idempotency OWNER TO :"app_user";
-- The exporter reads the outbox for its gauges, nothing more.
\\getenv monitoring_user MONITORING_USER
GRANT SELECT ON integration_outbox TO :"monitoring_user";
`;
}

function pruneLoop(status: "done" | "failed", days: number, batch: number): string {
  return `  LOOP
    DELETE FROM integration_outbox WHERE id IN (
      SELECT id FROM integration_outbox
      WHERE status = '${status}' AND coalesce(processed_at, created_at) < now() - interval '${days} days'
      ORDER BY id LIMIT ${batch});
    GET DIAGNOSTICS deleted = ROW_COUNT;
    COMMIT;
    EXIT WHEN deleted < ${batch};
  END LOOP;`;
}

/**
 * The reaper, run as the app role: rows stuck in processing go back to pending, then done and
 * failed rows past their retention are pruned in batches, each batch its own transaction.
 */
export function outboxReaperSql(props: PostgresProps): string {
  const o = props.postgres.outbox;
  return `\\set ON_ERROR_STOP on
UPDATE integration_outbox
   SET status = 'pending', locked_at = NULL, locked_by = NULL, available_at = now()
 WHERE status = 'processing' AND locked_at < now() - interval '${o.stuckMinutes} minutes';
DO $$
DECLARE deleted integer;
BEGIN
${pruneLoop("done", o.doneRetentionDays, o.pruneBatchSize)}
${pruneLoop("failed", o.failedRetentionDays, o.pruneBatchSize)}
END $$;
`;
}

/**
 * Applies Patroni's dynamic configuration to a running cluster: PATCH /config with the REST API
 * credentials, retried while Patroni starts. Patroni reloads every member; settings that need a
 * restart (max_connections) leave the members "pending restart" (alert PostgresPendingRestart).
 */
export function applyDcsScript(): string {
  return `import base64, json, os, sys, time, urllib.error, urllib.request

url = os.environ["PATRONI_URL"].rstrip("/")
with open(os.environ["DCS_FILE"]) as f:
    body = f.read().encode()
token = base64.b64encode(f"{os.environ['RESTAPI_USER']}:{os.environ['RESTAPI_PASSWORD']}".encode()).decode()
deadline = time.monotonic() + float(os.environ.get("WAIT_SECONDS", "1500"))
while True:
    request = urllib.request.Request(f"{url}/config", data=body, method="PATCH", headers={
        "Authorization": f"Basic {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            applied = json.load(response)
        break
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            sys.exit(f"Patroni refused the REST API credentials ({e.code})")
        error = f"HTTP {e.code}: {e.read().decode(errors='replace')[:200]}"
    except (urllib.error.URLError, OSError) as e:
        error = str(e)
    if time.monotonic() > deadline:
        sys.exit(f"Patroni at {url} did not take the configuration: {error}")
    print(f"waiting for Patroni at {url}: {error}", flush=True)
    time.sleep(5)
print("Patroni dynamic configuration now:", json.dumps(applied, sort_keys=True))
`;
}

/**
 * Nightly logical dump: pg_dump -Fc streamed to S3 as a multipart upload that is aborted, leaving
 * nothing, if pg_dump fails. Parts carry SHA-256 checksums, which Object Lock buckets require.
 */
export function dumpScript(): string {
  return `import base64, datetime, hashlib, os, subprocess, sys
import boto3

PART = 64 * 1024 * 1024
bucket, prefix = os.environ["DUMP_BUCKET"], os.environ["DUMP_PREFIX"]
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
key = f"{prefix}/{os.environ['PGDATABASE']}-{stamp}.dump"
s3 = boto3.client("s3", region_name=os.environ["AWS_REGION"])
dump = subprocess.Popen(["pg_dump", "--format=custom", "--no-password"], stdout=subprocess.PIPE)
upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")["UploadId"]
parts = []
try:
    while True:
        chunk = dump.stdout.read(PART)
        if not chunk:
            break
        digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
        n = len(parts) + 1
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=chunk,
                           ChecksumAlgorithm="SHA256", ChecksumSHA256=digest)
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": digest})
    if dump.wait() != 0 or not parts:
        raise RuntimeError(f"pg_dump exited with {dump.returncode}")
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
except BaseException:
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
    raise
print(f"uploaded s3://{bucket}/{key} in {len(parts)} parts")
`;
}

/**
 * postgres_exporter custom queries (its extend.query-path file) for the outbox: pending count,
 * oldest pending age, rows stuck in processing, and failures of the last 24 h by event type.
 * JSON, which is YAML.
 */
export function outboxExporterQueries(props: PostgresProps): string {
  const stuck = props.postgres.outbox.stuckMinutes;
  return `${JSON.stringify(
    {
      n8n_outbox: {
        query: `SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
  coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending')), 0) AS oldest_pending_age_seconds,
  count(*) FILTER (WHERE status = 'processing' AND locked_at < now() - interval '${stuck} minutes') AS stuck_processing,
  count(*) FILTER (WHERE status = 'failed') AS failed
FROM integration_outbox`,
        master: true,
        metrics: [
          { pending: { usage: "GAUGE", description: "Outbox rows waiting to be processed" } },
          { oldest_pending_age_seconds: { usage: "GAUGE", description: "Age of the oldest pending outbox row" } },
          { stuck_processing: { usage: "GAUGE", description: "Outbox rows locked longer than the reaper allows" } },
          { failed: { usage: "GAUGE", description: "Outbox rows that exhausted their attempts" } },
        ],
      },
      n8n_outbox_failed: {
        query: `SELECT event_type, count(*) AS last_24h FROM integration_outbox
WHERE status = 'failed' AND coalesce(processed_at, created_at) > now() - interval '24 hours'
GROUP BY event_type`,
        master: true,
        metrics: [
          { event_type: { usage: "LABEL", description: "Event type" } },
          { last_24h: { usage: "GAUGE", description: "Outbox rows failed in the last 24 hours" } },
        ],
      },
    },
    null,
    2,
  )}\n`;
}
