/**
 * What repositories of encrypted columns need from the crypto layer, declared here so the
 * store depends on no cipher code: src/crypto/envelope.ts implements it (`tenantSealer`).
 */
import type { TenantTx } from '../types.js';

/** Names one encrypted value; all three (and the tenant and key version) are bound into it. */
export interface FieldRef {
  table: string;
  recordId: string;
  column: string;
}

export interface FieldSealer {
  /** Encrypts under the tenant's active data key; `keyVersion` goes in the row's key_version. */
  seal(tx: TenantTx, field: FieldRef, plaintext: Buffer): Promise<{ ciphertext: Buffer; keyVersion: number }>;
  /** Seals several values counting their key uses at once (batch writers); same result as seal for each. */
  sealMany(tx: TenantTx, items: readonly { field: FieldRef; plaintext: Buffer }[]): Promise<{ ciphertext: Buffer; keyVersion: number }[]>;
  /** Rejects (never returns garbage) if the ciphertext was not sealed for exactly this field. */
  open(tx: TenantTx, field: FieldRef, ciphertext: Buffer): Promise<Buffer>;
}
