/**
 * Entity tags and conditional requests (RFC 9110 §8.8.3, §13): strong ETags, If-Match for
 * writes (strong comparison, checked by the store inside the write) and If-None-Match for reads
 * (weak comparison, answered 304).
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { badRequest } from '../errors.js'

/** An opaque tag (no `"`) as a strong ETag. */
export function strongEtag (opaque: string): string {
  return `"${opaque}"`
}

/** One entity tag of a list: its opaque part, and whether it was weak (W/). Null when malformed. */
function parseTag (raw: string): { opaque: string, weak: boolean } | null {
  const weak = raw.startsWith('W/')
  const quoted = weak ? raw.slice(2) : raw
  const match = /^"([\x21\x23-\x7e\x80-\xff]*)"$/.exec(quoted)
  return match === null ? null : { opaque: match[1], weak }
}

/** The tags of an If-Match or If-None-Match header: '*', a list, or undefined when absent. */
function parseTags (name: string, header: string | string[] | undefined): '*' | Array<{ opaque: string, weak: boolean }> | undefined {
  if (header === undefined) return undefined
  const value = (Array.isArray(header) ? header.join(',') : header).trim()
  if (value === '*') return '*'
  const tags = []
  for (const part of value.split(',').map(p => p.trim()).filter(p => p !== '')) {
    const tag = parseTag(part)
    if (tag === null) throw badRequest(`${name} holds ${JSON.stringify(part.slice(0, 80))}, which is not an entity tag; send * or quoted ETags as the server sent them, e.g. ${name}: "<etag>"`)
    tags.push(tag)
  }
  if (tags.length === 0) throw badRequest(`${name} is empty; send * or quoted ETags, or leave the header out`)
  return tags
}

/**
 * If-Match as the opaque tags a write may proceed on: '*' (the resource exists), a list, or
 * undefined when the header is absent. Weak tags never match under strong comparison, so they are
 * dropped (a list of weak tags only matches nothing).
 */
export function ifMatch (request: FastifyRequest): '*' | string[] | undefined {
  const tags = parseTags('If-Match', request.headers['if-match'])
  if (tags === undefined || tags === '*') return tags
  return tags.filter(t => !t.weak).map(t => t.opaque)
}

/** Whether If-Match holds for a resource whose current opaque tag is `current` (null: it does not exist). */
export function ifMatchHolds (expected: '*' | string[] | undefined, current: string | null): boolean {
  if (expected === undefined) return true
  if (current === null) return false
  return expected === '*' || expected.includes(current)
}

/**
 * Sets the ETag of a GET's answer and, when If-None-Match names it (weak comparison) or is '*',
 * answers 304 with no body. Returns true when it answered.
 */
export function notModified (request: FastifyRequest, reply: FastifyReply, opaque: string): boolean {
  void reply.header('etag', strongEtag(opaque))
  const tags = parseTags('If-None-Match', request.headers['if-none-match'])
  if (tags === undefined) return false
  if (tags !== '*' && !tags.some(t => t.opaque === opaque)) return false
  void reply.code(304).send()
  return true
}
