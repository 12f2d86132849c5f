/**
 * The plans migration 0008 seeds (the former admin templates). Configuration may put a tenant on
 * one without declaring it; any other plan must be declared under `plans` (or exist already).
 */
export const SEEDED_PLANS = ['free', 'standard', 'enterprise'] as const;
