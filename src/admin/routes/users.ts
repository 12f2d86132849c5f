/** Tenant scope: users and their role memberships. */
import { z } from 'zod';
import { membershipsRepo, rolesByUser, usersRepo } from '../../store/index.js';
import { decodeCursor, listBody, pageQuery } from '../http/cursor.js';
import { etagOf } from '../http/etag.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { isUuidText } from '../schemas/ids.js';
import {
  createMembershipBody,
  createUserBody,
  membershipQuery,
  membershipView,
  patchUserBody,
  presentMembership,
  presentUser,
  userQuery,
  userView,
} from '../schemas/users.js';
import { addMembership, createUser, deleteUser, removeMembership, updateUser } from '../services/users.js';
import { createOnce, read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const TAG = 'Users';
const USERS = '/tenants/{tenant}/users';
const MEMBERSHIPS = '/tenants/{tenant}/memberships';

export const userRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: USERS,
    operationId: 'listUsers',
    summary: 'List users with their roles',
    tag: TAG,
    permission: 'users.read',
    query: z.strictObject({ ...pageQuery, ...userQuery }),
    response: { status: 200, description: 'A page of users, by email.', schema: listOf(userView) },
    async handle(call) {
      const after = decodeCursor('users', call.query.cursor);
      const { page, roles } = await read(call.env, tenantOf(call), async (tx) => {
        const p = await usersRepo.list(tx, { after, limit: call.query.limit }, { status: call.query.status });
        return { page: p, roles: await rolesByUser(tx, p.items.map((u) => u.id)) };
      });
      return { status: 200, body: listBody('users', page, (u) => presentUser(u, roles.get(u.id) ?? [])) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: USERS,
    operationId: 'createUser',
    summary: 'Add a user, optionally with roles',
    tag: TAG,
    permission: 'users.write',
    body: createUserBody,
    idempotent: true,
    response: { status: 201, description: 'The new user.', schema: userView },
    async handle(call) {
      const tenantId = tenantOf(call);
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) => {
        const { user, roles } = await createUser(tx, call.actor, call.body);
        return {
          result: { status: 201, body: presentUser(user, roles), etag: etagOf(user.version), location: `/admin/v1/tenants/${tenantId}/users/${user.id}` },
        };
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${USERS}/{user}`,
    operationId: 'getUser',
    summary: 'Get a user with their roles',
    tag: TAG,
    permission: 'users.read',
    response: { status: 200, description: 'The user.', schema: userView },
    async handle(call) {
      const found = await read(call.env, tenantOf(call), async (tx) => {
        const u = await usersRepo.get(tx, call.params.user ?? '');
        return u === null ? null : { u, roles: (await membershipsRepo.listForUser(tx, u.id)).map((m) => m.role) };
      });
      if (found === null) throw notFound('user');
      return { status: 200, body: presentUser(found.u, found.roles), etag: etagOf(found.u.version) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${USERS}/{user}`,
    operationId: 'updateUser',
    summary: 'Change or disable a user',
    tag: TAG,
    permission: 'users.write',
    body: patchUserBody,
    ifMatch: 'required',
    response: { status: 200, description: 'The changed user.', schema: userView },
    async handle(call) {
      const { u, roles } = await write(call.env, tenantOf(call), async (tx) => {
        const changed = await updateUser(tx, call.actor, call.params.user ?? '', call.body, call.ifMatch);
        return { u: changed, roles: (await membershipsRepo.listForUser(tx, changed.id)).map((m) => m.role) };
      });
      return { status: 200, body: presentUser(u, roles), etag: etagOf(u.version) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${USERS}/{user}`,
    operationId: 'deleteUser',
    summary: 'Delete a user (their admin keys go with them; their API keys are revoked)',
    tag: TAG,
    permission: 'users.write',
    ifMatch: 'required',
    response: { status: 204, description: 'Deleted.' },
    async handle(call) {
      await write(call.env, tenantOf(call), (tx) => deleteUser(tx, call.actor, call.params.user ?? '', call.ifMatch));
      return { status: 204 };
    },
  }),
  defineRoute({
    method: 'GET',
    path: MEMBERSHIPS,
    operationId: 'listMemberships',
    summary: 'List role memberships',
    tag: TAG,
    permission: 'users.read',
    query: z.strictObject({ ...pageQuery, ...membershipQuery }),
    response: { status: 200, description: 'A page of memberships.', schema: listOf(membershipView) },
    async handle(call) {
      const after = decodeCursor('memberships', call.query.cursor, isUuidText);
      const page = await read(call.env, tenantOf(call), (tx) =>
        membershipsRepo.list(tx, { after, limit: call.query.limit }, { userId: call.query.user_id, role: call.query.role }),
      );
      return { status: 200, body: listBody('memberships', page, presentMembership) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: MEMBERSHIPS,
    operationId: 'createMembership',
    summary: 'Grant a user a tenant role',
    tag: TAG,
    permission: 'users.write',
    body: createMembershipBody,
    idempotent: true,
    response: { status: 201, description: 'The new membership.', schema: membershipView },
    async handle(call) {
      const tenantId = tenantOf(call);
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) => {
        const m = await addMembership(tx, call.actor, call.body);
        return { result: { status: 201, body: presentMembership(m), location: `/admin/v1/tenants/${tenantId}/memberships/${m.id}` } };
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${MEMBERSHIPS}/{membership}`,
    operationId: 'getMembership',
    summary: 'Get a membership',
    tag: TAG,
    permission: 'users.read',
    response: { status: 200, description: 'The membership.', schema: membershipView },
    async handle(call) {
      const m = await read(call.env, tenantOf(call), (tx) => membershipsRepo.get(tx, call.params.membership ?? ''));
      if (m === null) throw notFound('membership');
      return { status: 200, body: presentMembership(m) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${MEMBERSHIPS}/{membership}`,
    operationId: 'deleteMembership',
    summary: "Revoke a user's role (memberships are immutable: no If-Match)",
    tag: TAG,
    permission: 'users.write',
    response: { status: 204, description: 'Deleted.' },
    async handle(call) {
      await write(call.env, tenantOf(call), (tx) => removeMembership(tx, call.actor, call.params.membership ?? ''));
      return { status: 204 };
    },
  }),
];
