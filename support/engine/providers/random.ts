/**
 * STAND-IN for the pulumi-random provider plugin (pulumi-resource-random), which cannot be built
 * here: only `random:index/randomPassword:RandomPassword`, the one type the program registers
 * (components/secrets.ts). It behaves as terraform-provider-random's random_password
 * (internal/provider/resource_password.go, schema v3) does: the same defaults, every input replaces,
 * id "none", `result` and `bcryptHash` (a real bcrypt, cost 10) as secret outputs.
 */
import { randomInt } from "node:crypto";
import type { CheckFailure } from "@pulumi/pulumi/provider";
import { bcryptHash } from "./bcrypt";
import {
  bool,
  isUnknown,
  num,
  type Props,
  type ResourceType,
  reveal,
  secret,
  serve,
  standInProvider,
  str,
} from "./plugin";

export const RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword";

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const NUMERIC = "0123456789";
/** The special characters of random_password when overrideSpecial is not given. */
const SPECIAL = "!@#$%&*()-_=+[]{}<>:?";

/** What random.CreateString takes (internal/random/string.go). */
export interface PasswordParams {
  length: number;
  upper: boolean;
  lower: boolean;
  numeric: boolean;
  special: boolean;
  minUpper: number;
  minLower: number;
  minNumeric: number;
  minSpecial: number;
  overrideSpecial?: string;
}

function pick(chars: string, count: number): string[] {
  return Array.from({ length: count }, () => chars[randomInt(chars.length)] as string);
}

/**
 * As random.CreateString: the minimums first, each from its own set (even a set that is switched
 * off), the rest from every enabled set, then shuffled.
 */
export function generatePassword(p: PasswordParams): string {
  const special = p.overrideSpecial ?? SPECIAL;
  const pool = [p.upper ? UPPER : "", p.lower ? LOWER : "", p.numeric ? NUMERIC : "", p.special ? special : ""].join(
    "",
  );
  const chars = [
    ...pick(NUMERIC, p.minNumeric),
    ...pick(LOWER, p.minLower),
    ...pick(UPPER, p.minUpper),
    ...pick(special, p.minSpecial),
  ];
  const rest = p.length - chars.length;
  if (rest > 0 && pool === "") throw new Error("no character set is enabled: set upper, lower, numeric or special");
  chars.push(...pick(pool, rest));
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
  }
  return chars.join("");
}

/** The inputs of RandomPassword (@pulumi/random 4.21.2, randomPassword.d.ts). */
const INPUTS = [
  "keepers",
  "length",
  "lower",
  "minLower",
  "minNumeric",
  "minSpecial",
  "minUpper",
  "number",
  "numeric",
  "overrideSpecial",
  "special",
  "upper",
] as const;

/** Schema v3 defaults: every set on, every minimum 0. `number` and `numeric` follow each other. */
function checkPassword(news: Props): { inputs: Props; failures: CheckFailure[] } {
  const failures: CheckFailure[] = [];
  const inputs: Props = { ...news };
  for (const k of ["special", "upper", "lower"]) inputs[k] ??= true;
  for (const k of ["minLower", "minUpper", "minNumeric", "minSpecial"]) inputs[k] ??= 0;
  inputs.numeric ??= inputs.number ?? true;
  inputs.number ??= inputs.numeric;
  const plain = reveal(inputs) as Props;
  if (plain.number !== plain.numeric && !isUnknown(plain.number) && !isUnknown(plain.numeric)) {
    failures.push({ property: "numeric", reason: "number and numeric must agree (number is the deprecated name)" });
  }
  const length = plain.length;
  if (length === undefined) failures.push({ property: "length", reason: "Missing required property 'length'" });
  const minimums = ["minUpper", "minLower", "minNumeric", "minSpecial"].map((k) => plain[k]);
  if (typeof length === "number" && minimums.every((m) => typeof m === "number")) {
    const sum = (minimums as number[]).reduce((a, b) => a + b, 0);
    if (length < 1) failures.push({ property: "length", reason: "length must be at least 1" });
    if (length < sum) {
      failures.push({
        property: "length",
        reason: `length (${length}) must be at least the sum of the minimums (${sum})`,
      });
    }
  }
  return { inputs, failures };
}

function paramsOf(inputs: Props): PasswordParams {
  const overrideSpecial = str(inputs, "overrideSpecial");
  return {
    length: num(inputs, "length") ?? 0,
    upper: bool(inputs, "upper") ?? true,
    lower: bool(inputs, "lower") ?? true,
    numeric: bool(inputs, "numeric") ?? true,
    special: bool(inputs, "special") ?? true,
    minUpper: num(inputs, "minUpper") ?? 0,
    minLower: num(inputs, "minLower") ?? 0,
    minNumeric: num(inputs, "minNumeric") ?? 0,
    minSpecial: num(inputs, "minSpecial") ?? 0,
    ...(overrideSpecial !== undefined ? { overrideSpecial } : {}),
  };
}

export const randomPassword: ResourceType = {
  inputs: INPUTS,
  // Every attribute of schema v3 has RequiresReplace (keepers: when its values change; overrideSpecial:
  // unless "" becomes null, which the diff's "" = absent covers).
  replaceOnChange: INPUTS,
  check: checkPassword,
  async create(inputs, raw) {
    const result = generatePassword(paramsOf(inputs));
    // bcrypt reads at most 72 bytes, as the provider documents for long passwords.
    const hash = bcryptHash(Buffer.from(result).subarray(0, 72).toString());
    return { id: "none", outs: { ...raw, result: secret(result), bcryptHash: secret(hash) } };
  },
  // As the real Read: the state is the truth, there is nothing to look up.
  async read(_id, _state, raw) {
    return raw;
  },
  // Only reached when nothing replaces, i.e. nothing changed that matters: keep the password.
  async update(_id, olds, _news, raw) {
    return { ...raw, result: secret(olds.result), bcryptHash: secret(olds.bcryptHash) };
  },
  async delete() {},
};

export const provider = standInProvider("random", { [RANDOM_PASSWORD]: randomPassword });

if (require.main === module) {
  void serve(provider, process.argv.slice(2));
}
