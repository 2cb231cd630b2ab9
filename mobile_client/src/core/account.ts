import { LIMITS, type User } from "./types";

/**
 * v2 account and safety (PROTOCOL.md "Account and safety"): small pure helpers. The wire
 * shapes (UserUpdatedPayload, ReportAnswer, AccountExport, BlocksAnswer) are the generated ones.
 */

/** A report's reason: 1 to this many code points after trimming. */
export const REPORT_REASON_MAX: number = LIMITS.maxReportReasonChars;
/** A display name: 1 to this many code points after trimming. */
export const DISPLAY_NAME_MAX: number = LIMITS.maxDisplayNameChars;

/** The sender of a closed account's messages, as the server shows it (`deleted-<id>`, "Deleted user"). */
export function isDeletedUser(u: Pick<User, "username"> | undefined): boolean {
  return Boolean(u && /^deleted-\d+$/.test(u.username));
}
