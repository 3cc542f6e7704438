/**
 * Liveness under large JSON bodies: at most LARGE_JSON_CONCURRENCY of them are read, parsed and
 * handled at once, the rest wait unread in a bounded queue, and /healthz is answered between
 * them. Asserted on the mechanism (the permits' own counts, the metrics, the order of answers),
 * never on latency.
 */
import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import { json, testApp } from '../helpers/app.js'
import { seedTranslator } from '../helpers/fixtures.js'

const DIM = 64

async function waitFor (cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise(resolve => setTimeout(resolve, 5))
}

function request (url: string, opts: { method: string, path: string, body?: string, agent?: http.Agent, headers?: Record<string, string> }): Promise<{ status: number, body: string, headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(opts.path, url), { method: opts.method, agent: opts.agent, headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers } }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body, headers: res.headers }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

async function serve (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string>): Promise<{ app: Awaited<ReturnType<typeof testApp>>, url: string }> {
  const app = await testApp(t, { env })
  for (const [url, payload] of [['/v1/spaces/a', { dim: DIM }], ['/v1/spaces/b', { dim: DIM }], ['/v1/anchor-sets/s', { ids: ['x'] }]] as const) {
    const res = await app.inject({ method: 'PUT', url, payload })
    if (res.statusCode !== 201) throw new Error(`setup ${url}: ${res.statusCode} ${res.body}`)
  }
  await seedTranslator(app.store, { source: 'a', target: 'b', anchorSet: 's', sourceDim: DIM, targetDim: DIM })
  return { app, url: await app.listen({ host: '127.0.0.1', port: 0 }) }
}

t.test('many large JSON bodies at once: the bound holds and /healthz is answered between them', async t => {
  const { app, url } = await serve(t, { LARGE_JSON_BYTES: String(64 * 1024), LARGE_JSON_CONCURRENCY: '2', LARGE_JSON_QUEUE: '64', BODY_LIMIT: String(16 * 1024 * 1024) })
  const permits = app.largeJsonBodies
  const rows = 1500
  const vectors = Array.from({ length: rows }, (_, r) => Array.from({ length: DIM }, (_, c) => Math.sin(r * 31 + c) / 3))
  const body = JSON.stringify({ source: 'a', target: 'b', vectors })
  t.ok(body.length > 1024 * 1024, `each body is ${(body.length / 1024 / 1024).toFixed(1)} MiB`)
  const N = 10
  let completed = 0
  const between: number[] = []
  let maxWaitingSeen = 0
  let stop = false
  // /healthz on its own connection, polled for as long as the large bodies are in flight.
  const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { probeAgent.destroy() })
  const probing = (async () => {
    let answered = 0
    while (!stop) {
      const res = await request(url, { method: 'GET', path: '/healthz', agent: probeAgent })
      if (res.status !== 200) throw new Error(`healthz answered ${res.status}`)
      answered++
      maxWaitingSeen = Math.max(maxWaitingSeen, permits.waiting)
      if (completed > 0 && completed < N) between.push(completed)
    }
    return answered
  })()
  const bodyAgent = new http.Agent({ keepAlive: false, maxSockets: N })
  t.teardown(() => { bodyAgent.destroy() })
  const answers = await Promise.all(Array.from({ length: N }, async () => {
    const res = await request(url, { method: 'POST', path: '/v1/translate', body, agent: bodyAgent })
    completed++
    return res
  }))
  stop = true
  const probes = await probing
  t.same(answers.map(a => a.status), Array(N).fill(200), 'every large body was answered 200')
  t.equal(json({ body: answers[0].body }).vectors.length, rows)
  t.equal(permits.admitted, N, 'each large body took a permit')
  t.equal(permits.peakActive, 2, 'never more than LARGE_JSON_CONCURRENCY at once, and the bound was reached')
  t.ok(maxWaitingSeen > 0, `bodies waited their turn (up to ${maxWaitingSeen} seen waiting)`)
  t.equal(permits.inUse, 0, 'every permit was given back')
  t.ok(between.length > 0, `/healthz was answered while large bodies were still in flight (${between.length} of ${probes} probes, after ${between.join(', ')} of ${N} answers)`)
  const metrics = await request(url, { method: 'GET', path: '/metrics' })
  t.match(metrics.body, /latentbridge_large_json_bodies_peak_active 2/)
  t.match(metrics.body, /latentbridge_large_json_bodies_active 0/)
})

t.test('the queue is bounded: one more large body is refused at once with 503 and Retry-After', async t => {
  const { app, url } = await serve(t, { LARGE_JSON_BYTES: '4096', LARGE_JSON_CONCURRENCY: '1', LARGE_JSON_QUEUE: '1', PRESSURE_RETRY_AFTER_S: '7' })
  const permits = app.largeJsonBodies
  const { port } = new URL(url)
  const body = JSON.stringify({ source: 'a', target: 'b', vectors: Array.from({ length: 100 }, () => Array(DIM).fill(0.5)) })
  // Headers only: a declared-large body is admitted (or queued) before any of it is read.
  const open = (): net.Socket => {
    const socket = net.connect(Number(port), '127.0.0.1')
    socket.write(`POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`)
    return socket
  }
  const first = open()
  let firstAnswer = ''
  first.on('data', (d: Buffer) => { firstAnswer += d.toString() })
  await waitFor(() => permits.inUse === 1)
  const second = open()
  second.on('error', () => {})
  await waitFor(() => permits.waiting === 1)

  const refused = await request(url, { method: 'POST', path: '/v1/translate', body })
  t.equal(refused.status, 503)
  t.equal(json(refused).type, 'urn:latentbridge:problem:overloaded')
  t.equal(refused.headers['retry-after'], '7')
  t.match(json(refused).detail, /LARGE_JSON_CONCURRENCY/)
  t.equal(permits.refused, 1)

  // A waiting client that goes away leaves the queue.
  second.destroy()
  await waitFor(() => permits.waiting === 0)
  t.equal(permits.inUse, 1)

  // The admitted body is read once sent, and its permit is given back with its answer.
  first.write(body)
  await waitFor(() => firstAnswer.includes('\r\n\r\n') && permits.inUse === 0)
  t.match(firstAnswer, /^HTTP\/1\.1 200/)
  first.destroy()

  const small = await request(url, { method: 'POST', path: '/v1/translate', body: JSON.stringify({ source: 'a', target: 'b', vectors: [Array(DIM).fill(1)] }) })
  t.equal(small.status, 200, 'small bodies never wait')
  t.equal(permits.admitted, 1)
})

t.test('a client gone mid-body gives its permit back', async t => {
  const { app, url } = await serve(t, { LARGE_JSON_BYTES: '4096', LARGE_JSON_CONCURRENCY: '1' })
  const permits = app.largeJsonBodies
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1')
  socket.on('error', () => {})
  socket.write('POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"vectors": [')
  await waitFor(() => permits.inUse === 1)
  socket.destroy()
  await waitFor(() => permits.inUse === 0)
  t.equal(permits.inUse, 0)
  // A chunked body (no Content-Length) takes a permit once it passes the threshold.
  const body = JSON.stringify({ source: 'a', target: 'b', vectors: Array.from({ length: 40 }, () => Array(DIM).fill(0.25)) })
  const answer = await new Promise<number>((resolve, reject) => {
    const req = http.request(new URL('/v1/translate', url), { method: 'POST', headers: { 'content-type': 'application/json' } }, res => { res.resume(); res.on('end', () => { resolve(res.statusCode ?? 0) }) })
    req.on('error', reject)
    for (let i = 0; i < body.length; i += 1000) req.write(body.slice(i, i + 1000))
    req.end()
  })
  t.equal(answer, 200)
  t.equal(permits.admitted, 2, 'the chunked body was admitted too')
  t.equal(permits.inUse, 0)
})
