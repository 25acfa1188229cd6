/**
 * The README's config table, generated from the zod schema: `npm run docs:config` prints it,
 * `npm run docs:config -- --write` puts it into README.md between its markers.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configTableMarkdown, withConfigTable } from "../config/docs";

const table = configTableMarkdown();
if (process.argv.includes("--write")) {
  const readme = join(__dirname, "..", "README.md");
  writeFileSync(readme, withConfigTable(readFileSync(readme, "utf8"), table));
} else {
  process.stdout.write(`${table}\n`);
}
