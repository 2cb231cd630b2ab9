/** Public surface of the client core: import from here in web and React Native apps. */
export { ChatClient, MAX_ATTACHMENTS, MAX_BODY, type ChatClientOptions, type SendOptions, type SignedOutReason } from "./client";
export { ChatError, isTransient } from "./errors";
export { Outbox, type OutboxEntry, type PendingAttachment } from "./outbox";
export { attachmentsOf, fitBox, formatSize, isImage, type Attachment } from "./attachments";
export {
  fetchUploader,
  MemoryFileStore,
  parseUploadAnswer,
  Uploads,
  uploadsDone,
  type CancelSignal,
  type FileStore,
  type LocalFile,
  type UploadProgress,
  type UploadRequest,
  type Uploader,
} from "./uploads";
export { RestClient, type FetchLike, type PushConfig, type PushSubscriptionInfo, type PushSubscriptionRequest } from "./rest";
export { Store } from "./store";
export { reduce } from "./reducer";
export * from "./selectors";
export * from "./settings";
export * from "./mentions";
export * from "./replies";
export { holes, type Hole } from "./messages";
export { codePointIndex, highlightSegments, MessageSearch, SEARCH_MAX_CHARS, SEARCH_PAGE, searchSnippet, toUtf16Ranges, type MarkedSegment, type SearchPage, type SearchQuery, type SearchResult, type SearchState } from "./search";
export * from "./account";
export * from "./state";
export * from "./types";
export type { Action, LocalAction, ServerAction } from "./events";
export { MemoryStorage, type StorageAdapter } from "./storage";
export { Transport, type IoFactory, type TransportOptions } from "./transport";
export { Backoff } from "./backoff";
export { uuidv4 } from "./uuid";
