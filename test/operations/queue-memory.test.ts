import t from 'tap'
import { MemoryQueue } from '../../src/jobs/memory.js'
import { CONTRACT_DEFAULTS, queueContract } from '../helpers/queue-contract.js'

queueContract(t, 'memory queue', async (processor, opts = {}) => new MemoryQueue(processor, { ...CONTRACT_DEFAULTS, ...opts }))
