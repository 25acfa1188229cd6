/**
 * STAND-IN for the pulumi-aws provider plugin (pulumi-resource-aws), which cannot be built here:
 * exactly the resource types the program registers (components/aws/s3.ts), each create, update and
 * delete a real call to a moto server (STANDIN_AWS_ENDPOINT) with dummy credentials. What replaces
 * and what updates in place follows terraform-provider-aws (ForceNew in each resource's schema);
 * names are generated as there (a prefix + 26 characters) and as the Pulumi bridge auto-names
 * (`<resource name>-<7 hex>`) when neither a name nor a prefix is given.
 *
 * Provider configuration: `region` (the default of every S3 resource's own `region`); other keys
 * are accepted and ignored.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { CheckFailure } from "@pulumi/pulumi/provider";
import {
  AwsError,
  child,
  children,
  el,
  iam,
  iamTags,
  notFound,
  parseXml,
  renderXml,
  S3_XMLNS,
  s3,
  s3Get,
  tagsOf,
  textAt,
  type XmlElement,
  type XmlNode,
} from "./aws-api";
import {
  bool,
  isUnknown,
  obj,
  type Props,
  type ResourceType,
  reveal,
  secret,
  serve,
  standInProvider,
  str,
  stringMap,
  urnName,
} from "./plugin";

// ---- provider configuration ----

let providerRegion: string | undefined;

/** The region of a regional resource: its own `region`, else the provider's. */
function regionOf(inputs: Props): string {
  const region = str(inputs, "region") ?? providerRegion;
  if (!region) throw new Error("the aws stand-in has no region: set aws:region on the provider");
  return region;
}

const config = {
  check(news: Props): CheckFailure[] {
    const region = news.region;
    if (region === undefined) return [{ property: "region", reason: "the aws stand-in needs a region (aws:region)" }];
    if (typeof region !== "string") return [{ property: "region", reason: "region must be a string" }];
    return [];
  },
  configure(args: Props): void {
    providerRegion = str(args, "region");
  },
};

// ---- names ----

let uniqueCounter = 0;

/**
 * terraform-plugin-sdk's id.PrefixedUniqueId: the prefix, a UTC timestamp to 1/10000 s (18 digits),
 * and a per-process counter as 8 hex digits: 26 characters.
 */
export function prefixedUniqueId(prefix: string): string {
  const now = new Date();
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  const stamp = [
    now.getUTCFullYear(),
    pad(now.getUTCMonth() + 1),
    pad(now.getUTCDate()),
    pad(now.getUTCHours()),
    pad(now.getUTCMinutes()),
    pad(now.getUTCSeconds()),
    pad(now.getUTCMilliseconds(), 3),
    "0",
  ].join("");
  uniqueCounter += 1;
  return `${prefix}${stamp}${uniqueCounter.toString(16).padStart(8, "0")}`;
}

/** The bridge's auto-name: `<resource name>-<7 random hex>`, the name shortened to fit `maxLength`. */
function autoName(urn: string, maxLength: number, lower = false): string {
  const base = urnName(urn).slice(0, maxLength - 8);
  const name = `${base}-${randomBytes(4).toString("hex").slice(0, 7)}`;
  return lower ? name.toLowerCase() : name;
}

/**
 * Fills `nameKey` in check, as the bridge does: kept from the previous inputs, generated when neither
 * it nor `prefixKey` is given (with a prefix the provider generates the name on create).
 */
function withName(
  news: Props,
  olds: Props,
  urn: string,
  nameKey: string,
  prefixKey: string | undefined,
  maxLength: number,
  lower = false,
): Props {
  if (news[nameKey] !== undefined || (prefixKey && news[prefixKey] !== undefined)) return news;
  const previous = olds[nameKey];
  return { ...news, [nameKey]: previous ?? autoName(urn, maxLength, lower) };
}

// ---- shared pieces ----

/** Runs one API step; an AWS error names the step, as the real provider's messages do. */
async function step<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof AwsError) throw new Error(`${what}: ${err.message}`);
    throw err;
  }
}

function sameJson(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (typeof v === "object" && v !== null) {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, canonical((v as Props)[k])]),
      );
    }
    return v;
  };
  try {
    return JSON.stringify(canonical(JSON.parse(a))) === JSON.stringify(canonical(JSON.parse(b)));
  } catch {
    return a === b;
  }
}

function jsonFailure(inputs: Props, key: string): CheckFailure[] {
  const v = reveal(inputs[key]);
  if (v === undefined) return [{ property: key, reason: `Missing required property '${key}'` }];
  if (isUnknown(v)) return [];
  try {
    JSON.parse(String(v));
    return [];
  } catch {
    return [{ property: key, reason: `${key} is not valid JSON` }];
  }
}

/** Keys of `olds` that `news` drops, and the entries of `news` that are new or changed. */
function tagChanges(olds: Record<string, string>, news: Record<string, string>) {
  return {
    removed: Object.keys(olds).filter((k) => !(k in news)),
    set: Object.fromEntries(Object.entries(news).filter(([k, v]) => olds[k] !== v)),
  };
}

// ---- S3 ----

function tagging(tags: Record<string, string>): string {
  const set = Object.entries(tags).map(([k, v]) => el("Tag", [el("Key", k), el("Value", v)]));
  return renderXml(el("Tagging", [el("TagSet", set)], S3_XMLNS));
}

async function putBucketTags(region: string, bucket: string, tags: Record<string, string>): Promise<void> {
  if (Object.keys(tags).length === 0) {
    await s3({ method: "DELETE", region, bucket, query: "tagging" });
  } else {
    await s3({ method: "PUT", region, bucket, query: "tagging", body: tagging(tags) });
  }
}

/** Deletes every object version and delete marker (forceDestroy), past governance-mode locks. */
async function emptyBucket(region: string, bucket: string): Promise<void> {
  let marker = "";
  for (;;) {
    const res = await s3({ method: "GET", region, bucket, query: `versions${marker}` });
    const list = parseXml(res.text);
    for (const v of [...children(list, "Version"), ...children(list, "DeleteMarker")]) {
      const versionId = textAt(v, "VersionId") ?? "null";
      await s3({
        method: "DELETE",
        region,
        bucket,
        key: textAt(v, "Key") ?? "",
        query: `versionId=${encodeURIComponent(versionId)}`,
        headers: { "x-amz-bypass-governance-retention": "true" },
      });
    }
    if (textAt(list, "IsTruncated") !== "true") return;
    const key = encodeURIComponent(textAt(list, "NextKeyMarker") ?? "");
    const version = encodeURIComponent(textAt(list, "NextVersionIdMarker") ?? "");
    marker = `&key-marker=${key}&version-id-marker=${version}`;
  }
}

function bucketOutputs(raw: Props, name: string, region: string, inputs: Props): Props {
  const tags = stringMap(inputs, "tags");
  return {
    ...raw,
    id: name,
    arn: `arn:aws:s3:::${name}`,
    bucket: name,
    bucketDomainName: `${name}.s3.amazonaws.com`,
    bucketRegionalDomainName: `${name}.s3.${region}.amazonaws.com`,
    bucketRegion: region,
    region,
    forceDestroy: bool(inputs, "forceDestroy") ?? false,
    objectLockEnabled: bool(inputs, "objectLockEnabled") ?? false,
    tags: raw.tags ?? {},
    tagsAll: tags,
  };
}

/** aws_s3_bucket: bucket, bucket_prefix and object_lock_enabled are ForceNew; so is the region it lives in. */
export const bucket: ResourceType = {
  inputs: ["bucket", "bucketPrefix", "forceDestroy", "objectLockEnabled", "region", "tags"],
  replaceOnChange: ["bucket", "bucketPrefix", "objectLockEnabled", "region"],
  computed: ["bucket", "region", "objectLockEnabled"],
  nameInput: "bucket",
  check(news, olds, urn) {
    const failures: CheckFailure[] = [];
    const prefix = reveal(news.bucketPrefix);
    if (typeof prefix === "string" && !isUnknown(prefix) && prefix.length > 37) {
      failures.push({ property: "bucketPrefix", reason: "bucketPrefix must be at most 37 characters" });
    }
    if (news.bucket !== undefined && news.bucketPrefix !== undefined) {
      failures.push({ property: "bucketPrefix", reason: "bucketPrefix conflicts with bucket" });
    }
    return {
      inputs: { forceDestroy: false, ...withName(news, olds, urn, "bucket", "bucketPrefix", 63, true) },
      failures,
    };
  },
  async create(inputs, raw) {
    const name = str(inputs, "bucket") ?? prefixedUniqueId(str(inputs, "bucketPrefix") ?? "terraform-");
    const region = regionOf(inputs);
    // us-east-1 is the one region that takes no LocationConstraint.
    const body =
      region === "us-east-1"
        ? undefined
        : renderXml(el("CreateBucketConfiguration", [el("LocationConstraint", region)], S3_XMLNS));
    await step(`creating S3 Bucket (${name})`, async () => {
      await s3({
        method: "PUT",
        region,
        bucket: name,
        ...(body ? { body } : {}),
        headers: bool(inputs, "objectLockEnabled") ? { "x-amz-bucket-object-lock-enabled": "true" } : {},
      });
      const tags = stringMap(inputs, "tags");
      if (Object.keys(tags).length > 0) await putBucketTags(region, name, tags);
    });
    return { id: name, outs: bucketOutputs(raw, name, region, inputs) };
  },
  async read(id, state, raw) {
    const region = regionOf(state);
    try {
      await s3({ method: "HEAD", region, bucket: id });
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
    return step(`reading S3 Bucket (${id})`, async () => {
      const location = await s3Get(region, id, "location", []);
      const lock = await s3Get(region, id, "object-lock", ["ObjectLockConfigurationNotFoundError"]);
      const tags = tagsOf(children(await s3Get(region, id, "tagging", ["NoSuchTagSet"]), "TagSet")[0]);
      const live = {
        ...state,
        tags,
        objectLockEnabled: textAt(lock, "ObjectLockEnabled") === "Enabled",
        region: location?.text.trim() || "us-east-1",
      };
      return { ...bucketOutputs(raw, id, live.region, live), tags, objectLockEnabled: live.objectLockEnabled };
    });
  },
  async update(id, olds, news, raw) {
    const region = regionOf(olds);
    const oldTags = stringMap(olds, "tags");
    const newTags = stringMap(news, "tags");
    if (JSON.stringify(oldTags) !== JSON.stringify(newTags)) {
      await step(`updating S3 Bucket (${id}) tags`, () => putBucketTags(region, id, newTags));
    }
    return bucketOutputs(raw, id, region, news);
  },
  async delete(id, state) {
    const region = regionOf(state);
    await step(`deleting S3 Bucket (${id})`, async () => {
      try {
        if (bool(state, "forceDestroy")) await emptyBucket(region, id);
        // Like the real provider, a bucket with objects in it fails here (BucketNotEmpty) without forceDestroy.
        await s3({ method: "DELETE", region, bucket: id });
      } catch (err) {
        if (!notFound(err)) throw err;
      }
    });
  },
};

/**
 * How one S3 configuration document maps to Pulumi's input shape: a field is a property, its XML
 * element, and its type or its own fields; `repeated` is a list of elements, `map` Key/Value pairs.
 */
interface Field {
  prop: string;
  xml: string;
  type?: "number" | "boolean";
  /** A count AWS requires to be at least 1, so a 0 read back means unset (moto writes <Years>0</Years>). */
  positive?: boolean;
  fields?: Field[];
  repeated?: boolean;
  map?: boolean;
}

function toXml(value: Props, fields: Field[]): XmlElement[] {
  const out: XmlElement[] = [];
  for (const f of fields) {
    const v = value[f.prop];
    if (v === undefined || v === null) continue;
    if (f.map) {
      for (const [k, val] of Object.entries(v as Props)) out.push(el(f.xml, [el("Key", k), el("Value", String(val))]));
      continue;
    }
    for (const item of f.repeated ? (v as unknown[]) : [v]) {
      out.push(f.fields ? el(f.xml, toXml(item as Props, f.fields)) : el(f.xml, item as string | number | boolean));
    }
  }
  return out;
}

function fromXml(node: XmlNode, fields: Field[]): Props {
  const out: Props = {};
  for (const f of fields) {
    const nodes = children(node, f.xml);
    if (nodes.length === 0) continue;
    if (f.map) {
      out[f.prop] = tagsOf({ name: f.xml, text: "", children: nodes });
      continue;
    }
    const scalar = (text: string) => {
      if (text === "" || (f.positive && text === "0")) return undefined;
      return f.type === "number" ? Number(text) : f.type === "boolean" ? text === "true" : text;
    };
    const values = nodes.map((n) => (f.fields ? fromXml(n, f.fields) : scalar(n.text.trim())));
    if (values.every((v) => v === undefined)) continue;
    out[f.prop] = f.repeated ? values : values[0];
  }
  return out;
}

const number = (prop: string, xml: string): Field => ({ prop, xml, type: "number" });
const text = (prop: string, xml: string): Field => ({ prop, xml });
const flag = (prop: string, xml: string): Field => ({ prop, xml, type: "boolean" });

const LIFECYCLE_FILTER: Field[] = [
  {
    prop: "and",
    xml: "And",
    fields: [
      text("prefix", "Prefix"),
      { prop: "tags", xml: "Tag", map: true },
      number("objectSizeGreaterThan", "ObjectSizeGreaterThan"),
      number("objectSizeLessThan", "ObjectSizeLessThan"),
    ],
  },
  number("objectSizeGreaterThan", "ObjectSizeGreaterThan"),
  number("objectSizeLessThan", "ObjectSizeLessThan"),
  text("prefix", "Prefix"),
  { prop: "tag", xml: "Tag", fields: [text("key", "Key"), text("value", "Value")] },
];

/** A LifecycleRule, its elements in the order of the S3 API reference. */
const LIFECYCLE_RULE: Field[] = [
  {
    prop: "expiration",
    xml: "Expiration",
    fields: [
      text("date", "Date"),
      number("days", "Days"),
      flag("expiredObjectDeleteMarker", "ExpiredObjectDeleteMarker"),
    ],
  },
  text("id", "ID"),
  text("prefix", "Prefix"),
  { prop: "filter", xml: "Filter", fields: LIFECYCLE_FILTER },
  text("status", "Status"),
  {
    prop: "transitions",
    xml: "Transition",
    repeated: true,
    fields: [text("date", "Date"), number("days", "Days"), text("storageClass", "StorageClass")],
  },
  {
    prop: "noncurrentVersionTransitions",
    xml: "NoncurrentVersionTransition",
    repeated: true,
    fields: [
      number("noncurrentDays", "NoncurrentDays"),
      text("storageClass", "StorageClass"),
      number("newerNoncurrentVersions", "NewerNoncurrentVersions"),
    ],
  },
  {
    prop: "noncurrentVersionExpiration",
    xml: "NoncurrentVersionExpiration",
    fields: [number("noncurrentDays", "NoncurrentDays"), number("newerNoncurrentVersions", "NewerNoncurrentVersions")],
  },
  {
    prop: "abortIncompleteMultipartUpload",
    xml: "AbortIncompleteMultipartUpload",
    fields: [number("daysAfterInitiation", "DaysAfterInitiation")],
  },
];

/** One bucket configuration resource: a subresource of the bucket, PUT on create and update. */
interface BucketConfig {
  token: string;
  /** The subresource of the S3 REST API, e.g. "versioning". */
  subresource: string;
  /** Inputs besides bucket and region. */
  inputs: string[];
  /** ForceNew inputs besides bucket and region. */
  replaceOnChange?: string[];
  defaults?: Props;
  check?(news: Props): CheckFailure[];
  /** The request body of the PUT. */
  document(inputs: Props): string;
  contentType?: string;
  /** The error codes of GET that mean "not configured". */
  missing: string[];
  /** The configuration's inputs as GET shows them. */
  parse(body: string): Props;
  /** Extra headers (expectedBucketOwner, object lock token, ...). */
  headers?(inputs: Props): Record<string, string>;
  /** Undoing it on delete: "delete" (DELETE the subresource), or the body of a PUT of what the bucket returns to. */
  remove: "delete" | ((state: Props) => string);
  /** Whether delete leaves the configuration in place (skipDestroy). */
  keep?(state: Props): boolean;
  /** The title in error messages, e.g. "S3 Bucket Versioning". */
  title: string;
}

const ownerHeader = (inputs: Props): Record<string, string> => {
  const owner = str(inputs, "expectedBucketOwner");
  return owner ? { "x-amz-expected-bucket-owner": owner } : {};
};

function bucketConfigType(c: BucketConfig): ResourceType {
  const put = (inputs: Props, body: string) =>
    s3({
      method: "PUT",
      region: regionOf(inputs),
      bucket: str(inputs, "bucket") ?? "",
      query: c.subresource,
      body,
      ...(c.contentType ? { contentType: c.contentType } : {}),
      headers: c.headers?.(inputs) ?? {},
    });
  const outputs = (raw: Props, inputs: Props) => ({
    ...(c.defaults ?? {}),
    ...raw,
    id: str(inputs, "bucket"),
    region: regionOf(inputs),
  });
  return {
    inputs: ["bucket", "region", ...c.inputs],
    replaceOnChange: ["bucket", "region", ...(c.replaceOnChange ?? [])],
    computed: ["region"],
    check(news) {
      const failures =
        news.bucket === undefined ? [{ property: "bucket", reason: "Missing required property 'bucket'" }] : [];
      return { inputs: { ...(c.defaults ?? {}), ...news }, failures: [...failures, ...(c.check?.(news) ?? [])] };
    },
    async create(inputs, raw) {
      const name = str(inputs, "bucket") ?? "";
      await step(`creating ${c.title} (${name})`, () => put(inputs, c.document(inputs)));
      return { id: name, outs: outputs(raw, inputs) };
    },
    async read(id, state, raw) {
      const region = regionOf(state);
      try {
        const res = await s3({ method: "GET", region, bucket: id, query: c.subresource, headers: ownerHeader(state) });
        return { ...raw, ...c.parse(res.text), id, region };
      } catch (err) {
        if (notFound(err, ...c.missing)) return undefined;
        throw err;
      }
    },
    async update(id, _olds, news, raw) {
      await step(`updating ${c.title} (${id})`, () => put(news, c.document(news)));
      return outputs(raw, news);
    },
    async delete(id, state) {
      await step(`deleting ${c.title} (${id})`, async () => {
        try {
          if (c.keep?.(state)) return;
          if (c.remove === "delete") {
            const region = regionOf(state);
            await s3({ method: "DELETE", region, bucket: id, query: c.subresource, headers: ownerHeader(state) });
          } else {
            await put(state, c.remove(state));
          }
        } catch (err) {
          if (!notFound(err, ...c.missing)) throw err;
        }
      });
    },
  };
}

function document(root: string, inputs: Props, fields: Field[]): string {
  return renderXml(el(root, toXml(inputs, fields), S3_XMLNS));
}

const OWNERSHIP: Field[] = [{ prop: "rule", xml: "Rule", fields: [text("objectOwnership", "ObjectOwnership")] }];

const PUBLIC_ACCESS: Field[] = [
  flag("blockPublicAcls", "BlockPublicAcls"),
  flag("ignorePublicAcls", "IgnorePublicAcls"),
  flag("blockPublicPolicy", "BlockPublicPolicy"),
  flag("restrictPublicBuckets", "RestrictPublicBuckets"),
];

/** The fields of VersioningConfiguration, which is the document itself. */
const VERSIONING: Field[] = [text("status", "Status"), text("mfaDelete", "MfaDelete")];

const SSE_RULES: Field[] = [
  {
    prop: "rules",
    xml: "Rule",
    repeated: true,
    fields: [
      {
        prop: "applyServerSideEncryptionByDefault",
        xml: "ApplyServerSideEncryptionByDefault",
        fields: [text("sseAlgorithm", "SSEAlgorithm"), text("kmsMasterKeyId", "KMSMasterKeyID")],
      },
      flag("bucketKeyEnabled", "BucketKeyEnabled"),
    ],
  },
];

const OBJECT_LOCK: Field[] = [
  text("objectLockEnabled", "ObjectLockEnabled"),
  {
    prop: "rule",
    xml: "Rule",
    fields: [
      {
        prop: "defaultRetention",
        xml: "DefaultRetention",
        fields: [
          text("mode", "Mode"),
          { ...number("days", "Days"), positive: true },
          { ...number("years", "Years"), positive: true },
        ],
      },
    ],
  },
];

/** The bucket configuration types; in each, bucket (and expected_bucket_owner where there is one) is ForceNew. */
const BUCKET_CONFIGS: BucketConfig[] = [
  {
    token: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    title: "S3 Bucket Ownership Controls",
    subresource: "ownershipControls",
    inputs: ["rule"],
    document: (i) => document("OwnershipControls", i, OWNERSHIP),
    missing: ["OwnershipControlsNotFoundError"],
    parse: (body) => fromXml(parseXml(body), OWNERSHIP),
    remove: "delete",
  },
  {
    token: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    title: "S3 Bucket Public Access Block",
    subresource: "publicAccessBlock",
    inputs: ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets", "skipDestroy"],
    defaults: {
      blockPublicAcls: false,
      blockPublicPolicy: false,
      ignorePublicAcls: false,
      restrictPublicBuckets: false,
    },
    document: (i) => document("PublicAccessBlockConfiguration", i, PUBLIC_ACCESS),
    missing: ["NoSuchPublicAccessBlockConfiguration"],
    parse: (body) => fromXml(parseXml(body), PUBLIC_ACCESS),
    remove: "delete",
    keep: (state) => bool(state, "skipDestroy") === true,
  },
  {
    token: "aws:s3/bucketVersioning:BucketVersioning",
    title: "S3 Bucket Versioning",
    subresource: "versioning",
    inputs: ["versioningConfiguration", "expectedBucketOwner", "mfa"],
    replaceOnChange: ["expectedBucketOwner"],
    headers: (i) => ({ ...ownerHeader(i), ...(str(i, "mfa") ? { "x-amz-mfa": str(i, "mfa") as string } : {}) }),
    document: (i) => document("VersioningConfiguration", obj(i, "versioningConfiguration") ?? {}, VERSIONING),
    missing: [],
    parse: (body) => ({ versioningConfiguration: { status: "Disabled", ...fromXml(parseXml(body), VERSIONING) } }),
    // As the real provider: deleting the resource suspends versioning (a bucket cannot go back to unversioned).
    remove: () => renderXml(el("VersioningConfiguration", [el("Status", "Suspended")], S3_XMLNS)),
  },
  {
    token: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    title: "S3 Bucket Server-side Encryption Configuration",
    subresource: "encryption",
    inputs: ["rules", "expectedBucketOwner"],
    replaceOnChange: ["expectedBucketOwner"],
    headers: ownerHeader,
    document: (i) => document("ServerSideEncryptionConfiguration", i, SSE_RULES),
    missing: ["ServerSideEncryptionConfigurationNotFoundError"],
    parse: (body) => fromXml(parseXml(body), SSE_RULES),
    remove: "delete",
  },
  {
    token: "aws:s3/bucketPolicy:BucketPolicy",
    title: "S3 Bucket Policy",
    subresource: "policy",
    inputs: ["policy"],
    check: (news) => jsonFailure(news, "policy"),
    document: (i) => str(i, "policy") ?? "",
    contentType: "application/json",
    missing: ["NoSuchBucketPolicy"],
    parse: (body) => ({ policy: body }),
    remove: "delete",
  },
  {
    token: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    title: "S3 Bucket Lifecycle Configuration",
    subresource: "lifecycle",
    inputs: ["rules", "expectedBucketOwner", "transitionDefaultMinimumObjectSize", "timeouts"],
    replaceOnChange: ["expectedBucketOwner"],
    // The API's default, which the provider reports back.
    defaults: { transitionDefaultMinimumObjectSize: "all_storage_classes_128K" },
    headers: (i) => ({
      ...ownerHeader(i),
      "x-amz-transition-default-minimum-object-size": str(i, "transitionDefaultMinimumObjectSize") ?? "",
    }),
    document: (i) =>
      document("LifecycleConfiguration", i, [{ prop: "rules", xml: "Rule", repeated: true, fields: LIFECYCLE_RULE }]),
    missing: ["NoSuchLifecycleConfiguration"],
    parse: (body) => fromXml(parseXml(body), [{ prop: "rules", xml: "Rule", repeated: true, fields: LIFECYCLE_RULE }]),
    remove: "delete",
  },
  {
    token: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    title: "S3 Bucket Object Lock Configuration",
    subresource: "object-lock",
    inputs: ["objectLockEnabled", "rule", "expectedBucketOwner", "token"],
    replaceOnChange: ["expectedBucketOwner", "objectLockEnabled"],
    defaults: { objectLockEnabled: "Enabled" },
    headers: (i) => ({
      ...ownerHeader(i),
      ...(str(i, "token") ? { "x-amz-bucket-object-lock-token": str(i, "token") as string } : {}),
    }),
    document: (i) => document("ObjectLockConfiguration", i, OBJECT_LOCK),
    missing: ["ObjectLockConfigurationNotFoundError"],
    parse: (body) => fromXml(parseXml(body), OBJECT_LOCK),
    // As the real provider: a bucket's object lock cannot be switched off, so delete drops the default retention.
    remove: () => renderXml(el("ObjectLockConfiguration", [el("ObjectLockEnabled", "Enabled")], S3_XMLNS)),
  },
];

// ---- IAM ----

const decodePolicy = (doc: string | undefined) => (doc === undefined ? undefined : decodeURIComponent(doc));

/** The document to keep in state: the state's own when AWS holds an equivalent one (verify.PolicyToSet). */
function policyToSet(state: string | undefined, live: string | undefined): string | undefined {
  return sameJson(state, live) ? state : live;
}

async function retag(kind: "Role" | "User", name: string, olds: Props, news: Props): Promise<void> {
  const { removed, set } = tagChanges(stringMap(olds, "tags"), stringMap(news, "tags"));
  const nameParam = { [`${kind}Name`]: name };
  if (removed.length > 0) {
    const keys = Object.fromEntries(removed.map((k, i) => [`TagKeys.member.${i + 1}`, k]));
    await iam(`Untag${kind}`, { ...nameParam, ...keys });
  }
  if (Object.keys(set).length > 0) await iam(`Tag${kind}`, { ...nameParam, ...iamTags(set) });
}

function roleOutputs(raw: Props, role: XmlNode | undefined, inputs: Props): Props {
  const tags = stringMap(inputs, "tags");
  return {
    ...raw,
    id: textAt(role, "RoleName"),
    name: textAt(role, "RoleName"),
    namePrefix: raw.namePrefix ?? "",
    arn: textAt(role, "Arn"),
    uniqueId: textAt(role, "RoleId"),
    createDate: textAt(role, "CreateDate"),
    path: textAt(role, "Path") ?? "/",
    maxSessionDuration: Number(textAt(role, "MaxSessionDuration") ?? 3600),
    tags: raw.tags ?? {},
    tagsAll: tags,
  };
}

/** aws_iam_role: name, name_prefix and path are ForceNew; the trust policy, description, tags update. */
export const role: ResourceType = {
  inputs: [
    "assumeRolePolicy",
    "description",
    "forceDetachPolicies",
    "maxSessionDuration",
    "name",
    "namePrefix",
    "path",
    "permissionsBoundary",
    "tags",
  ],
  replaceOnChange: ["name", "namePrefix", "path"],
  computed: ["name"],
  nameInput: "name",
  check(news, olds, urn) {
    const inputs = {
      path: "/",
      maxSessionDuration: 3600,
      forceDetachPolicies: false,
      ...withName(news, olds, urn, "name", "namePrefix", 64),
    };
    return { inputs, failures: jsonFailure(news, "assumeRolePolicy") };
  },
  async create(inputs, raw) {
    const name = str(inputs, "name") ?? prefixedUniqueId(str(inputs, "namePrefix") ?? "terraform-");
    const result = await step(`creating IAM Role (${name})`, () =>
      iam("CreateRole", {
        RoleName: name,
        AssumeRolePolicyDocument: str(inputs, "assumeRolePolicy"),
        Path: str(inputs, "path"),
        Description: str(inputs, "description"),
        MaxSessionDuration: inputs.maxSessionDuration as number | undefined,
        PermissionsBoundary: str(inputs, "permissionsBoundary"),
        ...iamTags(stringMap(inputs, "tags")),
      }),
    );
    return { id: name, outs: roleOutputs(raw, child(result, "Role"), inputs) };
  },
  async read(id, state, raw) {
    let result: XmlNode;
    try {
      result = await iam("GetRole", { RoleName: id });
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
    const live = children(result, "Role")[0];
    const tags = tagsOf(children(live, "Tags")[0]);
    const policy = policyToSet(str(state, "assumeRolePolicy"), decodePolicy(textAt(live, "AssumeRolePolicyDocument")));
    const description = textAt(live, "Description");
    return {
      ...roleOutputs(raw, live, { tags }),
      tags,
      assumeRolePolicy: policy === str(state, "assumeRolePolicy") ? raw.assumeRolePolicy : policy,
      ...(description ? { description } : {}),
    };
  },
  async update(id, olds, news, raw) {
    await step(`updating IAM Role (${id})`, async () => {
      if (!sameJson(str(olds, "assumeRolePolicy"), str(news, "assumeRolePolicy"))) {
        await iam("UpdateAssumeRolePolicy", { RoleName: id, PolicyDocument: str(news, "assumeRolePolicy") });
      }
      if (str(olds, "description") !== str(news, "description")) {
        await iam("UpdateRoleDescription", { RoleName: id, Description: str(news, "description") ?? "" });
      }
      if (olds.maxSessionDuration !== news.maxSessionDuration) {
        await iam("UpdateRole", { RoleName: id, MaxSessionDuration: news.maxSessionDuration as number | undefined });
      }
      const boundary = str(news, "permissionsBoundary");
      if (str(olds, "permissionsBoundary") !== boundary) {
        await (boundary
          ? iam("PutRolePermissionsBoundary", { RoleName: id, PermissionsBoundary: boundary })
          : iam("DeleteRolePermissionsBoundary", { RoleName: id }));
      }
      await retag("Role", id, olds, news);
    });
    const result = await step(`reading IAM Role (${id})`, () => iam("GetRole", { RoleName: id }));
    return roleOutputs(raw, children(result, "Role")[0], news);
  },
  async delete(id, state) {
    await step(`deleting IAM Role (${id})`, async () => {
      try {
        // As the real provider's DeleteRole: out of its instance profiles always, its policies when told to.
        const profiles = await iam("ListInstanceProfilesForRole", { RoleName: id });
        for (const p of children(children(profiles, "InstanceProfiles")[0], "member")) {
          await iam("RemoveRoleFromInstanceProfile", {
            RoleName: id,
            InstanceProfileName: textAt(p, "InstanceProfileName"),
          });
        }
        if (bool(state, "forceDetachPolicies")) {
          const inline = await iam("ListRolePolicies", { RoleName: id });
          for (const p of children(children(inline, "PolicyNames")[0], "member")) {
            await iam("DeleteRolePolicy", { RoleName: id, PolicyName: p.text.trim() });
          }
          const attached = await iam("ListAttachedRolePolicies", { RoleName: id });
          for (const p of children(children(attached, "AttachedPolicies")[0], "member")) {
            await iam("DetachRolePolicy", { RoleName: id, PolicyArn: textAt(p, "PolicyArn") });
          }
        }
        await iam("DeleteRole", { RoleName: id });
      } catch (err) {
        if (!notFound(err)) throw err;
      }
    });
  },
};

/** An inline policy of a role or a user (aws_iam_role_policy, aws_iam_user_policy): name, name_prefix and the owner are ForceNew. */
function inlinePolicy(owner: "role" | "user"): ResourceType {
  const kind = owner === "role" ? "Role" : "User";
  const params = (inputs: Props) => ({ [`${kind}Name`]: str(inputs, owner), PolicyName: str(inputs, "name") });
  const put = (inputs: Props) => iam(`Put${kind}Policy`, { ...params(inputs), PolicyDocument: str(inputs, "policy") });
  return {
    inputs: ["name", "namePrefix", "policy", owner],
    replaceOnChange: ["name", "namePrefix", owner],
    computed: ["name"],
    nameInput: "name",
    check(news, olds, urn) {
      const failures = jsonFailure(news, "policy");
      if (news[owner] === undefined) failures.push({ property: owner, reason: `Missing required property '${owner}'` });
      return { inputs: withName(news, olds, urn, "name", "namePrefix", 128), failures };
    },
    async create(inputs, raw) {
      const name = str(inputs, "name") ?? prefixedUniqueId(str(inputs, "namePrefix") ?? "terraform-");
      const named = { ...inputs, name };
      const id = `${str(inputs, owner)}:${name}`;
      await step(`creating IAM ${kind} Policy (${id})`, () => put(named));
      return { id, outs: { ...raw, id, name } };
    },
    async read(id, state, raw) {
      try {
        const result = await iam(`Get${kind}Policy`, params(state));
        const live = decodePolicy(textAt(result, "PolicyDocument"));
        const policy = policyToSet(str(state, "policy"), live);
        return { ...raw, id, policy: policy === str(state, "policy") ? raw.policy : policy };
      } catch (err) {
        if (notFound(err)) return undefined;
        throw err;
      }
    },
    async update(id, olds, news, raw) {
      await step(`updating IAM ${kind} Policy (${id})`, () => put({ ...news, name: str(news, "name") ?? olds.name }));
      return { ...raw, id, name: str(news, "name") ?? olds.name };
    },
    async delete(id, state) {
      await step(`deleting IAM ${kind} Policy (${id})`, async () => {
        try {
          await iam(`Delete${kind}Policy`, params(state));
        } catch (err) {
          if (!notFound(err)) throw err;
        }
      });
    },
  };
}

function userOutputs(raw: Props, user: XmlNode | undefined, inputs: Props): Props {
  return {
    ...raw,
    id: textAt(user, "UserName"),
    name: textAt(user, "UserName"),
    arn: textAt(user, "Arn"),
    uniqueId: textAt(user, "UserId"),
    path: textAt(user, "Path") ?? "/",
    tags: raw.tags ?? {},
    tagsAll: stringMap(inputs, "tags"),
  };
}

/** aws_iam_user: nothing is ForceNew; a new name or path is UpdateUser. */
export const user: ResourceType = {
  inputs: ["forceDestroy", "name", "path", "permissionsBoundary", "tags"],
  replaceOnChange: [],
  nameInput: "name",
  check(news, olds, urn) {
    return {
      inputs: { path: "/", forceDestroy: false, ...withName(news, olds, urn, "name", undefined, 64) },
      failures: [],
    };
  },
  async create(inputs, raw) {
    const name = str(inputs, "name") ?? "";
    const result = await step(`creating IAM User (${name})`, () =>
      iam("CreateUser", {
        UserName: name,
        Path: str(inputs, "path"),
        PermissionsBoundary: str(inputs, "permissionsBoundary"),
        ...iamTags(stringMap(inputs, "tags")),
      }),
    );
    return { id: name, outs: userOutputs(raw, children(result, "User")[0], inputs) };
  },
  async read(_id, state, raw) {
    try {
      const result = await iam("GetUser", { UserName: str(state, "name") });
      const live = children(result, "User")[0];
      const tags = tagsOf(children(live, "Tags")[0]);
      return { ...userOutputs(raw, live, { tags }), tags };
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  },
  async update(id, olds, news, raw) {
    // The ID stays the first name; the calls use the current one.
    const oldName = str(olds, "name") ?? id;
    const newName = str(news, "name") ?? oldName;
    await step(`updating IAM User (${oldName})`, async () => {
      if (oldName !== newName || str(olds, "path") !== str(news, "path")) {
        await iam("UpdateUser", { UserName: oldName, NewUserName: newName, NewPath: str(news, "path") });
      }
      const boundary = str(news, "permissionsBoundary");
      if (str(olds, "permissionsBoundary") !== boundary) {
        await (boundary
          ? iam("PutUserPermissionsBoundary", { UserName: newName, PermissionsBoundary: boundary })
          : iam("DeleteUserPermissionsBoundary", { UserName: newName }));
      }
      await retag("User", newName, olds, news);
    });
    const result = await step(`reading IAM User (${newName})`, () => iam("GetUser", { UserName: newName }));
    return { ...userOutputs(raw, children(result, "User")[0], news), id };
  },
  async delete(id, state) {
    const name = str(state, "name") ?? id;
    await step(`deleting IAM User (${name})`, async () => {
      try {
        // forceDestroy: what would make DeleteUser fail (DeleteConflict) goes first, as in the real provider.
        if (bool(state, "forceDestroy")) {
          const keys = await iam("ListAccessKeys", { UserName: name });
          for (const k of children(children(keys, "AccessKeyMetadata")[0], "member")) {
            await iam("DeleteAccessKey", { UserName: name, AccessKeyId: textAt(k, "AccessKeyId") });
          }
          const inline = await iam("ListUserPolicies", { UserName: name });
          for (const p of children(children(inline, "PolicyNames")[0], "member")) {
            await iam("DeleteUserPolicy", { UserName: name, PolicyName: p.text.trim() });
          }
          const attached = await iam("ListAttachedUserPolicies", { UserName: name });
          for (const p of children(children(attached, "AttachedPolicies")[0], "member")) {
            await iam("DetachUserPolicy", { UserName: name, PolicyArn: textAt(p, "PolicyArn") });
          }
        }
        await iam("DeleteUser", { UserName: name });
      } catch (err) {
        if (!notFound(err)) throw err;
      }
    });
  },
};

/** The SES SMTP password of a secret key (internal/service/iam/access_key.go, SessmTPPasswordFromSecretKeySigV4). */
export function sesSmtpPasswordV4(secretKey: string, region: string): string {
  let sig: Buffer = Buffer.from(`AWS4${secretKey}`);
  for (const part of ["11111111", region, "ses", "aws4_request", "SendRawEmail"]) {
    sig = createHmac("sha256", sig).update(part).digest();
  }
  return Buffer.concat([Buffer.from([0x04]), sig]).toString("base64");
}

/** aws_iam_access_key: user and pgp_key are ForceNew; status updates. */
export const accessKey: ResourceType = {
  inputs: ["pgpKey", "status", "user"],
  replaceOnChange: ["pgpKey", "user"],
  check(news) {
    const failures: CheckFailure[] = [];
    if (news.user === undefined) failures.push({ property: "user", reason: "Missing required property 'user'" });
    if (news.pgpKey !== undefined) {
      failures.push({ property: "pgpKey", reason: "the aws stand-in does not encrypt secrets with PGP" });
    }
    return { inputs: { status: "Active", ...news }, failures };
  },
  async create(inputs, raw) {
    const userName = str(inputs, "user") ?? "";
    const result = await step(`creating IAM Access Key (${userName})`, () =>
      iam("CreateAccessKey", { UserName: userName }),
    );
    const key = children(result, "AccessKey")[0];
    const id = textAt(key, "AccessKeyId") ?? "";
    const secretKey = textAt(key, "SecretAccessKey") ?? "";
    const status = str(inputs, "status") ?? "Active";
    if (status !== textAt(key, "Status")) {
      await step(`updating IAM Access Key (${id})`, () =>
        iam("UpdateAccessKey", { UserName: userName, AccessKeyId: id, Status: status }),
      );
    }
    return {
      id,
      outs: {
        ...raw,
        id,
        status,
        createDate: textAt(key, "CreateDate"),
        secret: secret(secretKey),
        sesSmtpPasswordV4: secret(sesSmtpPasswordV4(secretKey, regionOf({}))),
      },
    };
  },
  async read(id, state, raw) {
    try {
      const keys = await iam("ListAccessKeys", { UserName: str(state, "user") });
      const key = children(children(keys, "AccessKeyMetadata")[0], "member").find(
        (k) => textAt(k, "AccessKeyId") === id,
      );
      return key ? { ...raw, status: textAt(key, "Status"), createDate: textAt(key, "CreateDate") } : undefined;
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  },
  async update(id, olds, news, raw) {
    const status = str(news, "status") ?? "Active";
    await step(`updating IAM Access Key (${id})`, () =>
      iam("UpdateAccessKey", { UserName: str(news, "user"), AccessKeyId: id, Status: status }),
    );
    return {
      ...raw,
      id,
      status,
      createDate: olds.createDate,
      secret: secret(olds.secret),
      sesSmtpPasswordV4: secret(olds.sesSmtpPasswordV4),
    };
  },
  async delete(id, state) {
    await step(`deleting IAM Access Key (${id})`, async () => {
      try {
        await iam("DeleteAccessKey", { UserName: str(state, "user"), AccessKeyId: id });
      } catch (err) {
        if (!notFound(err)) throw err;
      }
    });
  },
};

export const AWS_TYPES: Record<string, ResourceType> = {
  "aws:s3/bucket:Bucket": bucket,
  ...Object.fromEntries(BUCKET_CONFIGS.map((c) => [c.token, bucketConfigType(c)])),
  "aws:iam/role:Role": role,
  "aws:iam/rolePolicy:RolePolicy": inlinePolicy("role"),
  "aws:iam/user:User": user,
  "aws:iam/userPolicy:UserPolicy": inlinePolicy("user"),
  "aws:iam/accessKey:AccessKey": accessKey,
};

export const provider = standInProvider("aws", AWS_TYPES, config);

if (require.main === module) {
  void serve(provider, process.argv.slice(2));
}
