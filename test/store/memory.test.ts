import t from 'tap'
import { MemoryStore } from '../../src/store/memory.js'
import { storeContract } from './contract.js'

storeContract(t, async () => {
  const store = new MemoryStore()
  return { store, cleanup: async () => { await store.close() } }
})
