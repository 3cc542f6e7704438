/**
 * Reuses large buffers of equal size. On these VMs first-touch page faults make fresh memory
 * slow (about 3 ms per MB, docs/engine-notes.md §1), and the engine would otherwise allocate a new copy of
 * the anchors and of every input chunk on each call.
 */
export class BufferPool<B extends ArrayBufferLike> {
  private readonly free = new Map<number, B[]>()

  constructor (
    private readonly create: (bytes: number) => B,
    private readonly perSize = 4,
    private readonly sizes = 8
  ) {}

  acquire (bytes: number): B {
    const list = this.free.get(bytes)
    const buffer = list?.pop()
    if (list !== undefined && list.length === 0) this.free.delete(bytes)
    return buffer ?? this.create(bytes)
  }

  release (buffer: B): void {
    const bytes = buffer.byteLength
    if (bytes === 0) return // detached
    let list = this.free.get(bytes)
    if (list === undefined) {
      // Forget the least recently used size class when too many sizes are kept.
      if (this.free.size >= this.sizes) this.free.delete(this.free.keys().next().value as number)
      list = []
    } else {
      this.free.delete(bytes)
    }
    if (list.length < this.perSize && !list.includes(buffer)) list.push(buffer)
    this.free.set(bytes, list)
  }

  get size (): number {
    let n = 0
    for (const list of this.free.values()) n += list.length
    return n
  }
}
