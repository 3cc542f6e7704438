import t from 'tap'
import { MEDIA, responseEncoding, shapeHeader } from '../../src/codecs/vectors.js'

t.test('media types', async t => {
  t.same(MEDIA, {
    octetStream: 'application/octet-stream',
    npy: 'application/x-npy',
    json: 'application/json',
    problem: 'application/problem+json'
  })
})

t.test('response encoding from Accept', async t => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'json'],
    ['', 'json'],
    ['*/*', 'json'],
    ['application/json', 'json'],
    ['application/*', 'json'],
    ['text/html', 'json'],
    ['application/octet-stream', 'octet-stream'],
    ['application/x-npy', 'npy'],
    ['APPLICATION/X-NPY', 'npy'],
    [' application/octet-stream ; q=1 ', 'octet-stream'],
    ['application/json, application/octet-stream;q=0.5', 'json'],
    ['application/json;q=0.5, application/octet-stream', 'octet-stream'],
    ['application/octet-stream;q=0.9, application/x-npy', 'npy'],
    ['application/octet-stream, */*;q=0.1', 'octet-stream'],
    // Equal q: the range that names the type beats the wildcard.
    ['*/*, application/x-npy', 'npy'],
    ['application/*, application/octet-stream', 'octet-stream'],
    ['application/json;q=0, application/octet-stream;q=0.2', 'octet-stream'],
    ['application/json;q=0, */*', 'octet-stream'],
    ['application/x-npy;q=0, */*', 'json'],
    ['application/x-npy;q=0.001, text/html', 'npy'],
    ['application/x-npy; charset=binary; q=0.7, application/json; q=0.6', 'npy'],
    ['application/x-npy;q=abc', 'npy'],
    ['text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8', 'json']
  ]
  for (const [accept, expected] of cases) t.equal(responseEncoding(accept), expected, String(accept))
})

t.test('X-Shape header', async t => {
  t.equal(shapeHeader({ rows: 3, cols: 768, data: new Float32Array(3 * 768) }), '3,768')
  t.equal(shapeHeader({ rows: 0, cols: 4, data: new Float32Array(0) }), '0,4')
})
