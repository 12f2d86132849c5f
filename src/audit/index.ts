/** The hash-chained, per-tenant audit log (DESIGN §3.4, §12 "Audit"). */
export { appendAudit, AuditIntegrityError } from './append.js';
export { createAuditQueue } from './async-appender.js';
export type { AuditQueue, AuditQueueOptions, AuditQueueStats } from './async-appender.js';
export { AUTH_FAILURE_REASONS, auditAuthFailures, authFailureEvent } from './auth-failures.js';
export type { AuthFailure, AuthFailureHook, AuthFailureReason } from './auth-failures.js';
export { canonicalEntry, canonicalJson, entryHash, GENESIS_HASH } from './canonical.js';
export { entryToJson, recordToEntry } from './entry.js';
export { AuditFilterError, checkAuditFilter, DEFAULT_PAGE, exportAuditJsonl, MAX_PAGE, queryAudit, streamAuditJsonl } from './query.js';
export type { AuditFilter, AuditFilterProblem, CheckedAuditFilter, QueryAuditResult } from './query.js';
export { isSecretName, REDACTED, redactText, redactValue } from './redact.js';
export { runAuditVerify } from './cli.js';
export type { AuditVerifyReport, RunAuditVerifyOptions } from './cli.js';
export { AUDIT_ENTRY_VERSION, AUDIT_OUTCOMES } from './types.js';
export type { ActorKind, AuditActor, AuditEntry, AuditEvent, AuditOutcome, AuditReader, AuditTarget, JsonValue } from './types.js';
export { ChainVerifier, verifyAuditChain } from './verify.js';
export type { AuditBreakReason, AuditChainHead, VerifyAuditResult } from './verify.js';
