/**
 * Entity tags and conditional requests (RFC 9110 §8.8.3, §13): strong ETags, If-Match for
 * writes (strong comparison, checked by the store inside the write) and If-None-Match for reads
 * (weak comparison, answered 304) and for writes (only create: '*').
 *
 * Spaces, anchor sets and embeddings have a stored revision. Their ETag is the revision itself for
 * the default (JSON) representation and `<revision>;<variant>` for the others (an anchor set with
 * its ids, embeddings as npy or raw float32), so that two representations never share an ETag. A
 * write's preconditions are about the revision, whichever representation the client read it from:
 * ifMatchRevisions and ifNoneMatchRevisions drop the variant. Revisions never contain ';'.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { badRequest } from '../errors.js'

/** An opaque tag (no `"`) as a strong ETag. */
export function strongEtag (opaque: string): string {
  return `"${opaque}"`
}

/** The opaque part of the ETag of one representation of a revision (no variant: the default one). */
export function variantTag (revision: string, variant?: string): string {
  return variant === undefined ? revision : `${revision};${variant}`
}

/** The revision an opaque tag names, whatever the representation it was the ETag of. */
function revisionOfTag (opaque: string): string {
  const at = opaque.indexOf(';')
  return at < 0 ? opaque : opaque.slice(0, at)
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

/** If-Match as the revisions a write may proceed on (see ifMatch), variants dropped. */
export function ifMatchRevisions (request: FastifyRequest): '*' | string[] | undefined {
  const tags = ifMatch(request)
  return tags === undefined || tags === '*' ? tags : tags.map(revisionOfTag)
}

/**
 * If-None-Match on a write as the revisions it must not find: '*' (only create), a list (weak
 * comparison: weak tags count), or undefined when the header is absent.
 */
export function ifNoneMatchRevisions (request: FastifyRequest): '*' | string[] | undefined {
  const tags = parseTags('If-None-Match', request.headers['if-none-match'])
  return tags === undefined || tags === '*' ? tags : tags.map(t => revisionOfTag(t.opaque))
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

/**
 * Adds a request header to the answer's Vary (RFC 9110 §12.5.5): the body depends on it, so a cache
 * must not serve one client's representation to another that sent a different value.
 */
export function addVary (reply: FastifyReply, field: string): void {
  const current = reply.getHeader('vary')
  const fields = current === undefined ? [] : String(current).split(',').map(f => f.trim()).filter(f => f !== '')
  if (fields.includes('*') || fields.some(f => f.toLowerCase() === field.toLowerCase())) return
  void reply.header('vary', [...fields, field].join(', '))
}
