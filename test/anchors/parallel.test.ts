import t from 'tap'
import { splitRows } from '../../src/anchors/parallel.js'

const rows = (values: number[][]): { rows: number, cols: number, data: Float32Array } => ({ rows: values.length, cols: values[0].length, data: Float32Array.from(values.flat()) })

t.test('splitRows: parallel rows in set order, and each side\'s unpaired rows', async t => {
  // Stored rows follow the set's order: a, b, c, d, e, f.
  const source = { ids: ['a', 'b', 'c', 'e'], matrix: rows([[1, 1], [2, 2], [3, 3], [5, 5]]) }
  const target = { ids: ['b', 'd', 'e', 'f'], matrix: rows([[20], [40], [50], [60]]) }
  const split = splitRows(source, target)
  t.same(split.ids, ['b', 'e'])
  t.same(Array.from(split.x.data), [2, 2, 5, 5])
  t.same(Array.from(split.y.data), [20, 50])
  t.same([split.unpairedX.rows, split.unpairedX.cols], [2, 2])
  t.same(Array.from(split.unpairedX.data), [1, 1, 3, 3], 'a and c: only the source holds them')
  t.same(Array.from(split.unpairedY.data), [40, 60], 'd and f: only the target holds them')
  const all = splitRows(source, source)
  t.equal(all.unpairedX.rows, 0)
  t.equal(all.unpairedY.rows, 0)
})
