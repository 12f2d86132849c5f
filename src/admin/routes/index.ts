/** Every admin route, in one table: the router, the OpenAPI document and the tests walk it. */
import { buildOpenApi } from '../openapi.js';
import type { AdminRoute } from '../route.js';
import { adminKeyRoutes } from './admin-keys.js';
import { alertRoutes } from './alerts.js';
import { apiKeyRoutes } from './api-keys.js';
import { auditRoutes } from './audit.js';
import { billingRoutes } from './billing.js';
import { domainRoutes } from './domains.js';
import { jwtIssuerRoutes } from './jwt-issuers.js';
import { limitRoutes } from './limits.js';
import { metaRoutes } from './meta.js';
import { planRoutes } from './plans.js';
import { policyRoutes } from './policies.js';
import { requestLogRoutes } from './request-logs.js';
import { secretRoutes } from './secrets.js';
import { serviceAccountRoutes } from './service-accounts.js';
import { teamRoutes } from './teams.js';
import { tenantDeploymentRoutes } from './tenant-deployments.js';
import { tenantRoutes } from './tenants.js';
import { usageRoutes } from './usage.js';
import { userRoutes } from './users.js';

let document: Record<string, unknown> | undefined;

export const ADMIN_ROUTES: readonly AdminRoute[] = [
  ...metaRoutes(() => (document ??= buildOpenApi(ADMIN_ROUTES))),
  ...tenantRoutes,
  ...planRoutes,
  ...limitRoutes,
  ...adminKeyRoutes,
  ...teamRoutes,
  ...userRoutes,
  ...serviceAccountRoutes,
  ...apiKeyRoutes,
  ...policyRoutes,
  ...domainRoutes,
  ...jwtIssuerRoutes,
  ...secretRoutes,
  ...tenantDeploymentRoutes,
  ...alertRoutes,
  ...auditRoutes,
  ...usageRoutes,
  ...requestLogRoutes,
  ...billingRoutes,
];
