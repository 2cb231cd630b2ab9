/** Public surface of the client core: import from here in web and React Native apps. */
export { ChatClient, MAX_BODY, type ChatClientOptions } from "./client";
export { ChatError, isTransient } from "./errors";
export { Outbox, type OutboxEntry } from "./outbox";
export { RestClient, type FetchLike, type PushConfig, type PushSubscriptionInfo, type PushSubscriptionRequest } from "./rest";
export { Store } from "./store";
export { reduce } from "./reducer";
export * from "./selectors";
export * from "./settings";
export * from "./mentions";
export * from "./state";
export * from "./types";
export type { Action, LocalAction, ServerAction } from "./events";
export { MemoryStorage, type StorageAdapter } from "./storage";
export { Transport, type IoFactory, type TransportOptions } from "./transport";
export { Backoff } from "./backoff";
export { uuidv4 } from "./uuid";
