import { ConfigError, loadConfig } from '../../src/config.js'

/** The message of the ConfigError that loading `env` throws; throws when it loads or fails otherwise. */
export function configError (env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.message
    throw err
  }
  throw new Error('expected a ConfigError')
}
