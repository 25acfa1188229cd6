/**
 * The AWS APIs the aws stand-in calls, against moto (STANDIN_AWS_ENDPOINT) with dummy credentials:
 * S3's REST API (path-style) and IAM's query API, with just enough XML. moto routes a request to a
 * service by the credential scope of its Authorization header (moto_server/werkzeug_app.py,
 * infer_service_region_host) and does not check signatures, so the header carries the scope only.
 */
import { createHash } from "node:crypto";

/** An error response of an AWS API: its code and message, as the real provider reports them. */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export function endpoint(): string {
  const url = process.env.STANDIN_AWS_ENDPOINT;
  if (!url) throw new Error("STANDIN_AWS_ENDPOINT is not set: the aws stand-in only talks to a moto server");
  return url.replace(/\/$/, "");
}

function authorization(service: "s3" | "iam", region: string): string {
  return `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=x`;
}

// ---- XML: a tree parser for responses, a builder for request bodies ----

export interface XmlNode {
  name: string;
  children: XmlNode[];
  text: string;
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (whole, e: string) => {
    if (e.startsWith("#x")) return String.fromCodePoint(Number.parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return String.fromCodePoint(Number(e.slice(1)));
    return ENTITIES[e] ?? whole;
  });
}

/** Parses a document into its root element (declarations, comments and attributes dropped). */
export function parseXml(xml: string): XmlNode {
  const root: XmlNode = { name: "", children: [], text: "" };
  const stack = [root];
  const tag = /<(\/?)([A-Za-z_][\w.:-]*)[^>]*?(\/?)>|<\?[^>]*\?>|<!--[\s\S]*?-->|([^<]+)/g;
  for (let m = tag.exec(xml); m; m = tag.exec(xml)) {
    const top = stack[stack.length - 1] as XmlNode;
    if (m[4] !== undefined) {
      top.text += decodeEntities(m[4]);
    } else if (m[2] && m[1]) {
      stack.pop();
    } else if (m[2]) {
      const node: XmlNode = { name: m[2].replace(/^.*:/, ""), children: [], text: "" };
      top.children.push(node);
      if (!m[3]) stack.push(node);
    }
  }
  const doc = root.children[0];
  if (!doc) throw new Error(`not an XML document: ${xml.slice(0, 200)}`);
  return doc;
}

export function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return node?.children.find((c) => c.name === name);
}

export function children(node: XmlNode | undefined, name: string): XmlNode[] {
  return node?.children.filter((c) => c.name === name) ?? [];
}

/** The text of the element at `path` below `node`, trimmed; undefined when it is not there. */
export function textAt(node: XmlNode | undefined, ...path: string[]): string | undefined {
  let at = node;
  for (const name of path) at = child(at, name);
  return at?.text.trim();
}

export interface XmlElement {
  name: string;
  body: string | XmlElement[];
  xmlns?: string;
}

export function el(name: string, body: string | number | boolean | XmlElement[], xmlns?: string): XmlElement {
  return { name, body: Array.isArray(body) ? body : String(body), ...(xmlns ? { xmlns } : {}) };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&${Object.entries(ENTITIES).find(([, v]) => v === c)?.[0]};`);
}

export function renderXml(e: XmlElement): string {
  const body = typeof e.body === "string" ? escapeXml(e.body) : e.body.map(renderXml).join("");
  const attrs = e.xmlns ? ` xmlns="${escapeXml(e.xmlns)}"` : "";
  return `<${e.name}${attrs}>${body}</${e.name}>`;
}

export const S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/";

// ---- S3 ----

export interface S3Request {
  method: "GET" | "PUT" | "POST" | "DELETE" | "HEAD";
  region: string;
  bucket: string;
  key?: string;
  /** The subresource and parameters, e.g. "versioning" or "versions&key-marker=a". */
  query?: string;
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface S3Response {
  status: number;
  text: string;
  headers: Headers;
}

/** One S3 call; an error response throws AwsError with S3's code and message. */
export async function s3(req: S3Request): Promise<S3Response> {
  const key = req.key ? `/${req.key.split("/").map(encodeURIComponent).join("/")}` : "";
  const url = `${endpoint()}/${req.bucket}${key}${req.query ? `?${req.query}` : ""}`;
  const headers: Record<string, string> = { Authorization: authorization("s3", req.region), ...req.headers };
  if (req.body !== undefined) {
    headers["Content-Type"] = req.contentType ?? "application/xml";
    // Several configuration PUTs require an integrity header on AWS; moto ignores it.
    headers["Content-MD5"] = createHash("md5").update(req.body).digest("base64");
  }
  const res = await fetch(url, { method: req.method, headers, ...(req.body !== undefined ? { body: req.body } : {}) });
  const text = await res.text();
  if (res.status >= 300) {
    if (req.method === "HEAD" || !text.trim())
      throw new AwsError(res.status === 404 ? "NotFound" : "Error", res.status, res.statusText);
    const error = parseXml(text);
    throw new AwsError(textAt(error, "Code") ?? "Error", res.status, textAt(error, "Message") ?? res.statusText);
  }
  return { status: res.status, text, headers: res.headers };
}

/** GET of a bucket subresource; undefined when S3 answers with one of `missing` (e.g. NoSuchTagSet). */
export async function s3Get(
  region: string,
  bucket: string,
  query: string,
  missing: readonly string[],
): Promise<XmlNode | undefined> {
  try {
    const res = await s3({ method: "GET", region, bucket, query });
    return res.text.trim() ? parseXml(res.text) : undefined;
  } catch (err) {
    if (err instanceof AwsError && missing.includes(err.code)) return undefined;
    throw err;
  }
}

// ---- IAM (a global service: its credential scope is us-east-1) ----

/** One IAM query API call: its <Action>Result element. */
export async function iam(action: string, params: Record<string, string | number | undefined> = {}): Promise<XmlNode> {
  const form = new URLSearchParams({ Action: action, Version: "2010-05-08" });
  for (const [k, v] of Object.entries(params)) if (v !== undefined) form.set(k, String(v));
  const res = await fetch(`${endpoint()}/`, {
    method: "POST",
    headers: { Authorization: authorization("iam", "us-east-1"), "Content-Type": "application/x-www-form-urlencoded" },
    body: form.toString(),
  });
  const text = await res.text();
  const doc = parseXml(text);
  if (res.status >= 300) {
    const error = child(doc, "Error");
    throw new AwsError(textAt(error, "Code") ?? "Error", res.status, textAt(error, "Message") ?? res.statusText);
  }
  return child(doc, `${action}Result`) ?? doc;
}

/** Whether `err` is IAM's NoSuchEntity (or S3's NotFound family): the thing is gone. */
export function notFound(err: unknown, ...codes: string[]): boolean {
  return err instanceof AwsError && ["NoSuchEntity", "NoSuchBucket", "NotFound", ...codes].includes(err.code);
}

/** IAM's `Tags.member.N.Key/Value` parameters. */
export function iamTags(tags: Record<string, string>, prefix = "Tags.member"): Record<string, string> {
  const params: Record<string, string> = {};
  Object.entries(tags).forEach(([key, value], i) => {
    params[`${prefix}.${i + 1}.Key`] = key;
    params[`${prefix}.${i + 1}.Value`] = value;
  });
  return params;
}

/** Tags from a <Tags><member><Key/><Value/></member></Tags> (IAM) or <TagSet><Tag>…</Tag></TagSet> (S3). */
export function tagsOf(node: XmlNode | undefined): Record<string, string> {
  return Object.fromEntries(
    (node?.children ?? []).map((m) => [textAt(m, "Key") ?? "", textAt(m, "Value") ?? ""] as const),
  );
}
