export { createEngine, defaultEngineConfig, type EngineConfig, type EngineLogger, type OrtEngine, type SessionStats } from './engine.js'
export type { Engine, EngineInfo, MatMul, Projection, RelativeOptions, RelativeResult } from './types.js'
