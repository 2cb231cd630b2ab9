/**
 * RFC 4122 v4 UUIDs for `client_id`. Uses crypto.randomUUID / getRandomValues when the host
 * has them (browsers, Node); React Native without a crypto polyfill falls back to Math.random,
 * which is fine here: client_id only needs to be unique per sender and conversation.
 */
type CryptoLike = { randomUUID?: () => string; getRandomValues?: (a: Uint8Array) => Uint8Array };

export function uuidv4(): string {
  const c = (globalThis as { crypto?: CryptoLike }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c?.getRandomValues) c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
