/** The store's public surface: everything outside src/store/ imports from here. */
export { openStore, StoreClosedError } from './store.js';
export type {
  AdminTx,
  MigrateResult,
  OpenStoreOptions,
  PlatformTx,
  Queryable,
  QueryResult,
  Store,
  StoreKind,
  TenantTx,
} from './types.js';
export { DataDirInUseError } from './lock.js';
export { MigrationError, mayMigrate, prepareSchema, verifyMigrations } from './migrate.js';
export { ForbiddenStatementError } from './guard.js';
export { isDataError, isUniqueViolation, sqlState, SQLSTATE, writeIsolating } from './errors.js';
export { tenantsRepo, upsertTenantBySlug } from './repos/tenants.js';
export type { TenantInput, TenantPatch, TenantRecord } from './repos/tenants.js';
export { domainsRepo } from './repos/domains.js';
export type { AddDomainResult, DomainRecord } from './repos/domains.js';
export { teamsRepo } from './repos/teams.js';
export type { TeamRecord } from './repos/teams.js';
export { apiKeysRepo } from './repos/api-keys.js';
export type { InsertApiKeyResult, NewApiKey, SnapshotKeyCursor, StoredApiKey } from './repos/api-keys.js';
export { metaRepo } from './repos/meta.js';
export { keyUsageRepo } from './repos/key-usage.js';
export type { KeyUse } from './repos/key-usage.js';
export { CONFIG_CHANNEL, ListenerClosedError, parseConfigChange } from './notify.js';
export type { ConfigChange, ListenEvents, NotificationHandler, Unlisten } from './notify.js';
export { auditRepo } from './repos/audit.js';
export type { AuditHead, AuditRecord, AuditSearch, LockedAuditHead } from './repos/audit.js';
export { findTenantByRef } from './repos/tenant-ref.js';
export type { TenantRef } from './repos/tenant-ref.js';
export { dataKeysRepo, keyringsRepo } from './repos/data-keys.js';
export type { DataKeyInfo, DataKeyState, KeyringState, ShredSchedule, StoredDataKey, UsableDataKey } from './repos/data-keys.js';
export { dataKeysAdminRepo } from './repos/data-keys-admin.js';
export type { WrappedDataKey } from './repos/data-keys-admin.js';
export type { FieldRef, FieldSealer } from './repos/sealed.js';
export { providerCredentialSecret, providerCredentialsRepo } from './repos/provider-credentials.js';
export type {
  CreateProviderCredentialResult,
  ProviderCredentialInput,
  ProviderCredentialRecord,
} from './repos/provider-credentials.js';
export { webhookSecret, webhooksRepo } from './repos/webhooks.js';
export type { WebhookInput, WebhookMetadata, WebhookRecord } from './repos/webhooks.js';
// Admin API repositories (src/admin).
export type { Page, PageRequest } from './repos/page.js';
export { usersRepo } from './repos/users.js';
export type { InsertUserResult, UserPatch, UserRecord, UserStatus } from './repos/users.js';
export { membershipsRepo, rolesByUser } from './repos/memberships.js';
export type { InsertMembershipResult, MembershipRecord } from './repos/memberships.js';
export { serviceAccountsRepo } from './repos/service-accounts.js';
export type { ServiceAccountPatch, ServiceAccountRecord, ServiceAccountResult } from './repos/service-accounts.js';
export { policiesRepo } from './repos/policies.js';
export type { PolicyInput, PolicyPatch, PolicyRecord, PolicyResult } from './repos/policies.js';
export { idempotencyRepo } from './repos/idempotency.js';
export type { ClaimResult, IdempotencyRecord } from './repos/idempotency.js';
export { adminKeysRepo } from './repos/admin-keys.js';
export type { AdminCredential, AdminKeyRecord, NewAdminKey } from './repos/admin-keys.js';
export { tenantsManageRepo } from './repos/tenants-manage.js';
export type { FleetCounts, ManagedTenant, ManagedTenantRef, ManagedTenantStatus, TenantSummary } from './repos/tenants-manage.js';
export { teamsManageRepo } from './repos/teams-manage.js';
export type { ManagedTeam, RemoveTeamResult, TeamResult } from './repos/teams-manage.js';
export { apiKeysManageRepo, apiKeyStatus } from './repos/api-keys-manage.js';
export type { ApiKeyPatch, ApiKeyStatus, ManagedApiKey, NewManagedApiKey } from './repos/api-keys-manage.js';
export { domainsManageRepo } from './repos/domains-manage.js';
export type { ManagedDomain } from './repos/domains-manage.js';
export { sealedManageRepo } from './repos/sealed-manage.js';
export type { CredentialMeta, WebhookMeta } from './repos/sealed-manage.js';
// Plans (tiers) and per-tenant limit rules (migration 0008).
export { plansRepo } from './repos/plans.js';
export type { PlanInput, PlanPatch, PlanRecord, PlanRemoveResult, PlanResult, PlanUpdateResult } from './repos/plans.js';
export { limitRulesRepo } from './repos/limit-rules.js';
export { anomalyThrottlesRepo, type StoredThrottle } from './repos/anomaly-throttles.js';
export type { RemoveLimitRuleResult, StoredLimitRule, UpsertLimitRuleResult } from './repos/limit-rules.js';
// The config_objects storage quota (migration 0009).
export { configObjectsRepo } from './repos/config-objects.js';
export { modelAliasesRepo, tenantDeploymentsRepo } from './repos/tenant-deployments.js';
export type { AliasRecord, TenantDeploymentInput, TenantDeploymentRecord, TenantDeploymentWithSecret } from './repos/tenant-deployments.js';
// Usage metering (migration 0013).
export { usageRepo } from './repos/usage.js';
export type {
  UsageEventRecord,
  UsageGranularity,
  UsageRollupQuery,
  UsageRollupRow,
  UsageStatusClass,
  UsageTagRollupQuery,
  UsageTagRollupRow,
  UsageWindowQuery,
  UsageWindowRow,
} from './repos/usage.js';
export { billingRepo } from './repos/billing.js';
export type {
  InvoiceRecord,
  InvoiceTotals,
  NewInvoice,
  NewPriceBookEntry,
  PlanChangeRecord,
  PriceBookEntry,
  PriceSource,
  TenantBillingInfo,
  TenantCloseInfo,
} from './repos/billing.js';
export { usageQueryRepo } from './repos/usage-query.js';
export type { GroupModelUsageRecord, ModelUsageRecord, PlatformGroupBy, UsageAggregate, UsageFilter, UsageGroupBy } from './repos/usage-query.js';
export { usageMaintenanceRepo } from './repos/usage-maintenance.js';
export { alertsRepo } from './repos/alerts.js';
export type { AlertKind, AlertRecord, AlertSummary, ClaimedDelivery, DeliveryOutcome, DeliveryRecord, DeliveryState, EndUserTotals } from './repos/alerts.js';
// Purging a deleted tenant's rows after shredding (migration 0016).
export { childrenFirst, tenantPurgeRepo } from './repos/tenant-purge.js';
// Stored request logs (migration 0018).
export { requestLogsRepo } from './repos/request-logs.js';
export type { LogUsage, NewRequestLog, RequestLogFields, RequestLogFilter, RequestLogMeta, RequestLogRecord } from './repos/request-logs.js';
