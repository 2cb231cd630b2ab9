/**
 * The few host globals the core uses. Declared here (instead of pulling in the DOM
 * lib) so `tsc -p tsconfig.core.json` proves the core never touches window/document.
 * Browsers, Node >= 18 and React Native all provide these.
 */
declare function setTimeout(handler: () => void, timeout?: number): unknown;
declare function clearTimeout(id: unknown): void;
declare const console: { warn(...args: unknown[]): void; error(...args: unknown[]): void; log(...args: unknown[]): void };
