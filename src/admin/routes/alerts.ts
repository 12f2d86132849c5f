/**
 * Tenant scope: alerts, their webhook deliveries, budget exhaustion forecasts and the tenant's
 * alert settings (src/billing/alerts). Read by tenant admins and billing; settings written by
 * tenant admins only.
 */
import { calendarRules } from '../../billing/alerts/usage.js';
import { tenantForecasts } from '../../billing/alerts/job.js';
import { DEFAULT_LOOKBACK_HOURS } from '../../billing/alerts/forecast.js';
import { effectiveSettings, type AlertSettings } from '../../billing/alerts/settings.js';
import { alertsRepo, type TenantTx } from '../../store/index.js';
import { randomUUID } from 'node:crypto';
import { raiseAlert } from '../../billing/alerts/raise.js';
import { audit, auditActor } from '../audit-hook.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import {
  alertSettingsView,
  alertsQuery,
  alertView,
  deliveryView,
  forecastView,
  patchAlertSettingsBody,
  presentAlert,
  presentDelivery,
  presentForecasts,
  presentSettings,
} from '../schemas/alerts.js';
import { effectiveLimits } from '../services/limits.js';
import { read } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const TAG = 'Alerts';
const T = '/tenants/{tenant}';
const CURSOR_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\|[0-9a-f-]{36}$/;

async function loadSettings(tx: TenantTx) {
  return effectiveSettings(await alertsRepo.settings(tx));
}

export const alertRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: `${T}/alerts`,
    operationId: 'listAlerts',
    summary: 'List raised alerts (budget thresholds, anomalies), newest first, with their delivery status',
    tag: TAG,
    permission: 'alerts.read',
    query: alertsQuery,
    response: { status: 200, description: 'A page of alerts.', schema: listOf(alertView) },
    async handle(call) {
      const after = decodeCursor('alerts', call.query.cursor, (a) => CURSOR_RE.test(a));
      const [at, id] = after === null ? [null, null] : (after.split('|') as [string, string]);
      const limit = call.query.limit;
      const rows = await read(call.env, tenantOf(call), (tx) =>
        alertsRepo.list(tx, { limit: limit + 1, before: at === null || id === null ? null : { createdAt: new Date(at), id }, kind: call.query.kind ?? null }),
      );
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      const next = rows.length > limit && last !== undefined ? encodeCursor('alerts', `${last.createdAt.toISOString()}|${last.id}`) : null;
      return { status: 200, body: { object: 'list', data: page.map(presentAlert), next_cursor: next } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${T}/alerts/test`,
    operationId: 'sendTestAlert',
    summary: 'Send a signed `webhook.test` event to every enabled webhook (to check a receiver)',
    tag: TAG,
    permission: 'alerts.write',
    response: { status: 201, description: 'The test alert; its deliveries run like any other.', schema: alertView },
    async handle(call) {
      const alert = await read(call.env, tenantOf(call), async (tx) => {
        const a = await raiseAlert(tx, 'webhook.test', `test:${randomUUID()}`, { message: 'Test event from Gatehouse.' }, auditActor(call.actor.principal));
        if (a === null) throw new Error('a fresh test alert key already exists');
        return a;
      });
      const deliveries = await read(call.env, tenantOf(call), (tx) => alertsRepo.deliveries(tx, alert.id));
      const summary = { ...alert, deliveries: { pending: deliveries.length, delivered: 0, failed: 0 } };
      return { status: 201, body: presentAlert(summary) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${T}/alerts/{alert}/deliveries`,
    operationId: 'listAlertDeliveries',
    summary: "An alert's webhook deliveries: state, attempts, last status",
    tag: TAG,
    permission: 'alerts.read',
    response: { status: 200, description: 'Every delivery of the alert (one per subscribed webhook).', schema: listOf(deliveryView) },
    async handle(call) {
      const ds = await read(call.env, tenantOf(call), async (tx) => {
        const alert = await alertsRepo.get(tx, call.params.alert ?? '');
        if (alert === null) throw notFound('alert');
        return alertsRepo.deliveries(tx, alert.id);
      });
      return { status: 200, body: { object: 'list', data: ds.map(presentDelivery), next_cursor: null } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${T}/forecast`,
    operationId: 'getBudgetForecast',
    summary: 'When each day/month budget (cost, tokens, requests) runs out at the recent rate',
    tag: TAG,
    permission: 'alerts.read',
    response: { status: 200, description: 'Per rule (and per team/key counter): used, limit, rate and exhaustion time.', schema: forecastView },
    async handle(call) {
      const now = Date.now();
      const body = await read(call.env, tenantOf(call), async (tx) => {
        const limits = await effectiveLimits(tx);
        const rules = calendarRules({ rules: limits.rules.filter((r) => r.overridden !== true) });
        const { forecasts } = await tenantForecasts(tx, rules, limits.timeZone, now);
        const scopeOf = new Map(rules.map((r) => [r.id, r.scope]));
        return {
          object: 'forecast' as const,
          time_zone: limits.timeZone,
          lookback_hours: DEFAULT_LOOKBACK_HOURS,
          generated_at: new Date(now).toISOString(),
          rules: presentForecasts(forecasts.map((f) => ({ ...f, scope: scopeOf.get(f.ruleId) ?? 'tenant' }))),
        };
      });
      return { status: 200, body };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${T}/alert-settings`,
    operationId: 'getAlertSettings',
    summary: "The tenant's alert settings: budget thresholds and anomaly action",
    tag: TAG,
    permission: 'alerts.read',
    response: { status: 200, description: 'The settings as they apply (defaults filled in).', schema: alertSettingsView },
    async handle(call) {
      return { status: 200, body: presentSettings(await read(call.env, tenantOf(call), loadSettings)) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${T}/alert-settings`,
    operationId: 'updateAlertSettings',
    summary: "Change the tenant's alert settings (tenants.settings.alerts)",
    tag: TAG,
    permission: 'alerts.write',
    body: patchAlertSettingsBody,
    response: { status: 200, description: 'The settings as they now apply.', schema: alertSettingsView },
    async handle(call) {
      const after = await read(call.env, tenantOf(call), async (tx) => {
        const before = await loadSettings(tx);
        const stored = (await alertsRepo.settings(tx)) as AlertSettings;
        const next: Record<string, unknown> = { ...stored };
        const b = call.body;
        if (b.budget_thresholds === null) delete next.budgetThresholds;
        else if (b.budget_thresholds !== undefined) next.budgetThresholds = b.budget_thresholds;
        if (b.anomaly_action === null) delete next.anomalyAction;
        else if (b.anomaly_action !== undefined) next.anomalyAction = b.anomaly_action;
        if (!(await alertsRepo.setSettings(tx, next))) throw notFound('tenant');
        const now = await loadSettings(tx);
        await audit(tx, call.actor, 'alert_settings.update', { kind: 'tenant', id: tx.tenantId }, { before: presentSettings(before), after: presentSettings(now) });
        return now;
      });
      return { status: 200, body: presentSettings(after) };
    },
  }),
];

