import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const CORE = join(__dirname, "..", "..", "src", "core");

/**
 * The core must run unchanged in React Native: no browser globals. (tsconfig.core.json
 * also type-checks it without the DOM lib; this catches `any`-typed escapes.)
 */
describe("src/core portability", () => {
  const files = readdirSync(CORE).filter((f) => f.endsWith(".ts"));

  it.each(files)("%s references no window, document or localStorage", (file) => {
    const code = readFileSync(join(CORE, file), "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/\/\/.*$/gm, "");
    expect(code).not.toMatch(/\b(window|document|localStorage|sessionStorage|navigator)\b/);
  });
});
