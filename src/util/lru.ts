/** A bounded least-recently-used map that hands evicted values to `onEvict` (to release sessions). */
export class LruCache<K, V> {
  private readonly entries = new Map<K, V>()

  constructor (readonly capacity: number, private readonly onEvict: (value: V, key: K) => void = () => {}) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`cache capacity must be a positive integer, got ${capacity}`)
  }

  get size (): number {
    return this.entries.size
  }

  has (key: K): boolean {
    return this.entries.has(key)
  }

  /** Returns the value and marks it most recently used. */
  get (key: K): V | undefined {
    const value = this.entries.get(key)
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting moves the key to the most recent end.
      this.entries.delete(key)
      this.entries.set(key, value)
    }
    return value
  }

  /** Returns the value without touching its recency. */
  peek (key: K): V | undefined {
    return this.entries.get(key)
  }

  /** Removes an entry without handing it to onEvict. */
  delete (key: K): boolean {
    return this.entries.delete(key)
  }

  set (key: K, value: V): void {
    const previous = this.entries.get(key)
    this.entries.delete(key)
    if (previous !== undefined && previous !== value) this.onEvict(previous, key)
    this.entries.set(key, value)
    while (this.entries.size > this.capacity) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [K, V]
      this.entries.delete(oldestKey)
      this.onEvict(oldest, oldestKey)
    }
  }

  keys (): K[] {
    return [...this.entries.keys()]
  }

  /** Evicts everything (through onEvict). */
  clear (): void {
    const all = [...this.entries]
    this.entries.clear()
    for (const [key, value] of all) this.onEvict(value, key)
  }
}
