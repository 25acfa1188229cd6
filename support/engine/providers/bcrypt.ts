/**
 * bcrypt (Provos and Mazières, "A Future-Adaptable Password Scheme", 1999) for the random stand-in's
 * `bcryptHash`: node:crypto has no bcrypt and node_modules holds no implementation, so it is written
 * out here rather than taking a new dependency. It produces what the real provider's
 * golang.org/x/crypto/bcrypt produces: `$2a$`, cost 10 (bcrypt.DefaultCost), the key being the
 * password's first 72 bytes plus the trailing NUL of the C original. Checked against Go's test vectors
 * in test/engine/standin-providers.test.ts.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";

/** bcrypt.DefaultCost of golang.org/x/crypto, which terraform-provider-random's generateHash uses. */
export const DEFAULT_COST = 10;

/** Blowfish's P-array (18 words) and S-boxes (4 × 256 words), in that order. */
const TABLE_WORDS = 18 + 4 * 256;

let initialTables: Uint32Array | undefined;

/**
 * Blowfish initialises P and S with the hexadecimal fraction of pi (Schneier, 1993). Rather than
 * carrying 1042 constants, compute them once: Machin's formula in BigInt fixed point, 64 guard bits.
 */
function piTables(): Uint32Array {
  if (initialTables) return initialTables;
  const bits = BigInt(TABLE_WORDS * 32);
  const guard = 64n;
  const one = 1n << (bits + guard);
  const arctanInverse = (x: bigint): bigint => {
    const x2 = x * x;
    let power = one / x;
    let sum = power;
    for (let k = 1n; power !== 0n; k++) {
      power /= x2;
      const term = power / (2n * k + 1n);
      sum += k % 2n === 1n ? -term : term;
    }
    return sum;
  };
  const pi = 16n * arctanInverse(5n) - 4n * arctanInverse(239n);
  const fraction = (pi - 3n * one) >> guard;
  const words = new Uint32Array(TABLE_WORDS);
  for (let i = 0; i < TABLE_WORDS; i++) {
    words[i] = Number((fraction >> (bits - 32n * BigInt(i + 1))) & 0xffffffffn);
  }
  initialTables = words;
  return words;
}

/** One Blowfish state: P is words 0..17, the four S-boxes follow. */
class Blowfish {
  readonly p: Uint32Array;
  readonly s: Uint32Array;
  private readonly block = new Uint32Array(2);

  constructor() {
    const tables = piTables();
    this.p = tables.slice(0, 18);
    this.s = tables.slice(18);
  }

  private f(x: number): number {
    const s = this.s;
    const a = s[x >>> 24] as number;
    const b = s[256 + ((x >>> 16) & 0xff)] as number;
    const c = s[512 + ((x >>> 8) & 0xff)] as number;
    const d = s[768 + (x & 0xff)] as number;
    return ((((a + b) >>> 0) ^ c) + d) >>> 0;
  }

  /** Enciphers words[at], words[at + 1] in place. */
  encipher(words: Uint32Array, at: number): void {
    const p = this.p;
    let l = (words[at] as number) ^ (p[0] as number);
    let r = words[at + 1] as number;
    for (let i = 1; i <= 16; i += 2) {
      r ^= this.f(l >>> 0) ^ (p[i] as number);
      l ^= this.f(r >>> 0) ^ (p[i + 1] as number);
    }
    words[at] = (r ^ (p[17] as number)) >>> 0;
    words[at + 1] = l >>> 0;
  }

  /** The (salted) Blowfish key schedule of eksblowfish; `salt` undefined is the plain schedule. */
  expand(key: Uint8Array, salt?: Uint8Array): void {
    const keyStream = wordStream(key);
    for (let i = 0; i < 18; i++) this.p[i] = ((this.p[i] as number) ^ keyStream()) >>> 0;
    const saltStream = salt ? wordStream(salt) : () => 0;
    const block = this.block;
    block[0] = 0;
    block[1] = 0;
    const fill = (target: Uint32Array) => {
      for (let i = 0; i < target.length; i += 2) {
        block[0] = ((block[0] as number) ^ saltStream()) >>> 0;
        block[1] = ((block[1] as number) ^ saltStream()) >>> 0;
        this.encipher(block, 0);
        target[i] = block[0] as number;
        target[i + 1] = block[1] as number;
      }
    };
    fill(this.p);
    fill(this.s);
  }
}

/** Big-endian 32-bit words taken cyclically from `data` (Blowfish_stream2word). */
function wordStream(data: Uint8Array): () => number {
  let at = 0;
  return () => {
    let word = 0;
    for (let i = 0; i < 4; i++) {
      word = ((word << 8) | (data[at] as number)) >>> 0;
      at = (at + 1) % data.length;
    }
    return word;
  };
}

const STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BCRYPT = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** bcrypt's base64: the standard bit layout, its own alphabet, no padding. */
function encode(bytes: Uint8Array): string {
  const standard = Buffer.from(bytes).toString("base64").replace(/=+$/, "");
  return [...standard].map((c) => BCRYPT[STANDARD.indexOf(c)]).join("");
}

function decode(text: string): Buffer {
  return Buffer.from([...text].map((c) => STANDARD[BCRYPT.indexOf(c)]).join(""), "base64");
}

/** "OrpheanBeholderScryDoubt", enciphered 64 times with the expensive state. */
const MAGIC = Buffer.from("OrpheanBeholderScryDoubt", "latin1");

function rawHash(password: string, salt: Uint8Array, cost: number): Uint8Array {
  const key = Buffer.concat([Buffer.from(password, "utf8").subarray(0, 72), Buffer.from([0])]).subarray(0, 72);
  const state = new Blowfish();
  state.expand(key, salt);
  for (let round = 0; round < 2 ** cost; round++) {
    state.expand(key);
    state.expand(salt);
  }
  const words = new Uint32Array(6);
  for (let i = 0; i < 6; i++) words[i] = MAGIC.readUInt32BE(4 * i);
  for (let i = 0; i < 64; i++) for (let j = 0; j < 6; j += 2) state.encipher(words, j);
  const out = Buffer.alloc(24);
  for (let i = 0; i < 6; i++) out.writeUInt32BE(words[i] as number, 4 * i);
  // The C original encodes 23 of the 24 bytes; every implementation since keeps that.
  return out.subarray(0, 23);
}

function format(salt: Uint8Array, cost: number, hash: Uint8Array): string {
  return `$2a$${String(cost).padStart(2, "0")}$${encode(salt)}${encode(hash)}`;
}

/** A bcrypt hash of `password` with a fresh 16-byte salt. */
export function bcryptHash(password: string, cost = DEFAULT_COST): string {
  const salt = randomBytes(16);
  return format(salt, cost, rawHash(password, salt, cost));
}

/** The hash of `password` with the salt (22 bcrypt-base64 characters) and cost given, e.g. for test vectors. */
export function bcryptWithSalt(password: string, encodedSalt: string, cost = DEFAULT_COST): string {
  const salt = decode(encodedSalt).subarray(0, 16);
  return format(salt, cost, rawHash(password, salt, cost));
}

/** Whether `hash` ($2a$/$2b$/$2y$) is a bcrypt hash of `password`. */
export function bcryptVerify(password: string, hash: string): boolean {
  const m = /^\$2[aby]\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/.exec(hash);
  if (!m) return false;
  const expected = Buffer.from(bcryptWithSalt(password, m[2] as string, Number(m[1])).slice(-31));
  return timingSafeEqual(expected, Buffer.from(m[3] as string));
}
