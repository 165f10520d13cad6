import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { WardenError } from '../../core/errors.js';

/** Any store failure other than a lost condition means "unavailable": callers fail closed. */
export function storeUnavailable(error: unknown): WardenError {
  if (error instanceof WardenError) return error;
  if (error instanceof ConditionalCheckFailedException) {
    return new WardenError('CHAIN_CONFLICT', 'the store refused a conditional write', { cause: error });
  }
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new WardenError('STORE_UNAVAILABLE', `the ledger store is unreachable (${reason}); nothing was forwarded`, { cause: error });
}

/** Runs a store call, translating its failure. */
export async function storeCall<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw storeUnavailable(error);
  }
}
