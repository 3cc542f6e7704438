import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { loadConfig } from '../../src/config.js'

/*
 * The Kubernetes manifests in docker/k8s: the kinds are there, and they fit together (selectors
 * match the pod labels, probes hit the right paths on the right port, the HPA targets the
 * Deployment, configuration comes from the ConfigMap and the keys from the Secret, and the
 * configuration they give is one the service accepts).
 */

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docker', 'k8s')

interface Resource {
  apiVersion: string
  kind: string
  metadata: { name: string, labels?: Record<string, string> }
  [key: string]: any
}

function load (file: string): Resource[] {
  return parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map(doc => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map(e => e.message).join('; ')}`)
    return doc.toJS() as Resource
  }).filter(r => r !== null)
}

const files = readdirSync(dir).filter(f => f.endsWith('.yaml')).sort()
const all = new Map(files.map(f => [f, load(f)]))
const resources = [...all.entries()].filter(([f]) => f !== 'kustomization.yaml' && f !== 'secret.example.yaml').flatMap(([, r]) => r)
const one = (kind: string): Resource => {
  const found = resources.filter(r => r.kind === kind)
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`)
  return found[0]
}
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v)

t.test('every manifest parses, and kustomization.yaml lists the resources (not the example Secret)', async t => {
  const kustomization = all.get('kustomization.yaml')?.[0]
  t.equal(kustomization?.kind, 'Kustomization')
  const listed = (kustomization?.resources as string[]).slice().sort()
  for (const file of listed) t.ok(existsSync(join(dir, file)), `${file} exists`)
  t.same(listed, files.filter(f => f !== 'kustomization.yaml' && f !== 'secret.example.yaml'), 'all the other manifests, and only them')
  t.same(resources.map(r => r.kind).sort(), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service'])
  t.same(all.get('secret.example.yaml')?.map(r => r.kind), ['Secret'])
  for (const r of resources) t.ok(typeof r.apiVersion === 'string' && typeof r.metadata?.name === 'string', `${r.kind} has apiVersion and a name`)
})

t.test('the Deployment: three replicas, probes, resources, configuration and keys from outside the image', async t => {
  const deployment = one('Deployment')
  t.equal(deployment.apiVersion, 'apps/v1')
  t.equal(deployment.spec.replicas, 3, 'three replicas')
  const podLabels = deployment.spec.template.metadata.labels as Record<string, string>
  t.ok(matches(deployment.spec.selector.matchLabels, podLabels), 'its selector matches its pod labels')
  const containers = deployment.spec.template.spec.containers as any[]
  t.equal(containers.length, 1)
  const [container] = containers
  const ports = container.ports as Array<{ name: string, containerPort: number }>
  const http = ports.find(p => p.name === 'http')
  t.ok(http !== undefined, 'a port named http')
  const configMap = one('ConfigMap')
  t.equal(http?.containerPort, Number(configMap.data.PORT), 'the container port is the PORT the ConfigMap sets')
  const portOf = (p: string | number): number | undefined => typeof p === 'number' ? p : ports.find(q => q.name === p)?.containerPort
  for (const [probe, path] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz'], ['startupProbe', '/healthz']] as const) {
    const spec = container[probe]
    t.equal(spec?.httpGet?.path, path, `${probe} on ${path}`)
    t.equal(portOf(spec?.httpGet?.port), http?.containerPort, `${probe} on the service's port`)
  }
  t.ok(container.readinessProbe.timeoutSeconds >= 2, 'the readiness probe waits longer than /readyz\'s 1 s Redis ping')
  const { requests, limits } = container.resources
  for (const what of ['cpu', 'memory']) {
    t.ok(requests?.[what] !== undefined && limits?.[what] !== undefined, `${what}: request and limit`)
  }
  const mem = (s: string): number => Number(/^(\d+)(Mi|Gi)$/.exec(s)?.[1]) * (s.endsWith('Gi') ? 1024 : 1)
  const cpu = (s: string | number): number => typeof s === 'number' ? s : s.endsWith('m') ? Number(s.slice(0, -1)) / 1000 : Number(s)
  t.ok(mem(requests.memory) <= mem(limits.memory) && cpu(requests.cpu) <= cpu(limits.cpu), 'requests within limits')
  const envFrom = container.envFrom as Array<{ configMapRef?: { name: string }, secretRef?: { name: string } }>
  t.same(envFrom.map(e => e.configMapRef?.name).filter(Boolean), [configMap.metadata.name], 'environment from the ConfigMap')
  const secret = all.get('secret.example.yaml')![0]
  t.same(envFrom.map(e => e.secretRef?.name).filter(Boolean), [secret.metadata.name], 'and from the Secret')
  t.notOk(JSON.stringify(container.env ?? []).includes('API_KEYS'), 'no keys inline in the Deployment')
  const grace = deployment.spec.template.spec.terminationGracePeriodSeconds as number
  const preStop = Number(container.lifecycle?.preStop?.exec?.command?.at(-1) ?? 0)
  t.ok(preStop + Number(configMap.data.SHUTDOWN_TIMEOUT_MS) / 1000 < grace, `preStop ${preStop} s + SHUTDOWN_TIMEOUT_MS fit in terminationGracePeriodSeconds ${grace} s`)
  t.equal(deployment.spec.strategy?.rollingUpdate?.maxUnavailable, 0, 'rollouts never go below the replica count')
})

t.test('the Service, PodDisruptionBudget and HorizontalPodAutoscaler point at the Deployment\'s pods', async t => {
  const deployment = one('Deployment')
  const podLabels = deployment.spec.template.metadata.labels as Record<string, string>
  const service = one('Service')
  t.ok(matches(service.spec.selector, podLabels), 'the Service selects the pods')
  const target = service.spec.ports[0].targetPort
  t.ok(deployment.spec.template.spec.containers[0].ports.some((p: any) => p.name === target || p.containerPort === target), `the Service targets the container port (${target})`)
  const pdb = one('PodDisruptionBudget')
  t.equal(pdb.apiVersion, 'policy/v1')
  t.ok(matches(pdb.spec.selector.matchLabels, podLabels), 'the PodDisruptionBudget selects the pods')
  t.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < deployment.spec.replicas, `it keeps ${pdb.spec.minAvailable} of ${deployment.spec.replicas} up and still allows a drain`)
  const hpa = one('HorizontalPodAutoscaler')
  t.equal(hpa.apiVersion, 'autoscaling/v2')
  t.same(hpa.spec.scaleTargetRef, { apiVersion: deployment.apiVersion, kind: 'Deployment', name: deployment.metadata.name }, 'the HPA scales the Deployment')
  t.ok(hpa.spec.minReplicas >= deployment.spec.replicas && hpa.spec.maxReplicas > hpa.spec.minReplicas, `${hpa.spec.minReplicas} to ${hpa.spec.maxReplicas} replicas`)
  t.ok(hpa.spec.metrics.some((m: any) => m.resource?.name === 'cpu'), 'on CPU, which the pods request')
})

t.test('the ConfigMap and the Secret together are a configuration the service accepts', async t => {
  const configMap = one('ConfigMap')
  const secret = all.get('secret.example.yaml')![0]
  for (const [name, value] of Object.entries(configMap.data)) t.type(value, 'string', `${name} is a string`)
  t.notOk('API_KEYS' in configMap.data || 'REDIS_PASSWORD' in configMap.data, 'no secrets in the ConfigMap')
  t.ok('API_KEYS' in secret.stringData, 'the API keys are in the Secret')
  const config = loadConfig({ ...configMap.data, ...secret.stringData })
  t.equal(config.API_KEYS.length, 2)
  t.same(config.REDIS_SENTINELS, [{ host: 'redis.redis.svc.cluster.local', port: 26379 }], 'Redis through the Bitnami chart\'s sentinels')
  t.equal(config.REDIS_SENTINEL_NAME, 'mymaster')
  const known = new Set(Object.keys(config))
  for (const name of [...Object.keys(configMap.data), ...Object.keys(secret.stringData)]) t.ok(known.has(name), `${name} is a variable the service reads`)
})
