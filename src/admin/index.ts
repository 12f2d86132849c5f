/** The admin API (DESIGN §8 admin/): REST under /admin/v1 with roles checked per action and field. */
export { createAdminHandler } from './handler.js';
export type { AdminHandler, AdminHandlerOptions } from './handler.js';
export { ADMIN_ROUTES } from './routes/index.js';
export { ADMIN_BASE } from './router.js';
export { PERMISSIONS, allows } from './permissions.js';
export type { Permission } from './permissions.js';
