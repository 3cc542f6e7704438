import { RedisStore, type RedisStoreOptions } from '../../src/store/redis/index.js'
import type { Store } from '../../src/store/types.js'
import type { StoreHarness } from '../store/contract.js'

/**
 * A contract-suite harness over Redis: a store on `keyPrefix`, `another` for more connections
 * over the same keys (a second replica), and a cleanup that closes them all, then runs `after`
 * (e.g. deleting the prefix's keys).
 */
export async function redisHarness (options: RedisStoreOptions, after?: () => Promise<void>): Promise<StoreHarness> {
  const stores: Store[] = []
  const open = async (): Promise<Store> => {
    const store = await RedisStore.connect(options)
    stores.push(store)
    return store
  }
  return {
    store: await open(),
    another: open,
    cleanup: async () => {
      await Promise.all(stores.map(async s => { await s.close() }))
      await after?.()
    }
  }
}
