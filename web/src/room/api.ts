/**
 * The rooms' REST API (roomapi/api.go) and session tokens: a small fetch
 * wrapper whose errors carry the API's stable codes, and the token kept
 * in localStorage per role.
 */
import type { Role, Session } from './protocol.js';

/** An API error: HTTP status (0: network), stable code, message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Reads an error body ({"error":{"code","message"}}), or makes one from the status. */
export function parseApiError(status: number, body: string): ApiError {
  try {
    const e = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    if (e.error && typeof e.error.code === 'string') {
      return new ApiError(status, e.error.code, typeof e.error.message === 'string' ? e.error.message : e.error.code);
    }
  } catch {
    // not JSON
  }
  return new ApiError(status, `http_${status}`, body.trim().slice(0, 200) || `HTTP ${status}`);
}

export interface RequestOptions {
  token?: string | undefined;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Calls the API; resolves with the JSON body (or null), rejects with an ApiError. */
export async function api<T = unknown>(method: string, path: string, o: RequestOptions = {}, f: typeof fetch = fetch): Promise<T> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers['Authorization'] = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await f(path, { method, headers, ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}) });
  } catch (err) {
    throw new ApiError(0, 'network', `could not reach the server: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw parseApiError(res.status, text);
  return (text ? JSON.parse(text) : null) as T;
}

/** A stream's API path. */
export const roomPath = (stream: string, rest = '') => `/api/v1/streams/${encodeURIComponent(stream)}${rest}`;

/** Issues a session token (a staff one needs the admin key). */
export function newSession(name: string, role: Role = 'viewer', adminKey?: string, f: typeof fetch = fetch): Promise<Session> {
  const body: { name?: string; role: Role } = { role };
  if (name) body.name = name;
  return api<Session>('POST', '/api/v1/session', { body, ...(adminKey ? { headers: { 'X-Admin-Key': adminKey } } : {}) }, f);
}

/** The part of localStorage used (injectable for tests; absent when storage is blocked). */
export interface KeyValue {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
  removeItem(k: string): void;
}

function storage(): KeyValue | null {
  try {
    return typeof localStorage !== 'undefined' ? localStorage : null;
  } catch {
    return null;
  }
}

/** Session tokens kept across visits, one per role (viewer tokens serve every stream). */
export class SessionStore {
  constructor(
    private readonly role: Role,
    private readonly kv: KeyValue | null = storage(),
    private readonly now: () => number = Date.now,
  ) {}

  private get k(): string {
    return `liveloop.session.${this.role}`;
  }

  /** The stored session, unless missing, unreadable or expiring within a minute. */
  get(): Session | null {
    const raw = this.kv?.getItem(this.k);
    if (!raw) return null;
    try {
      const s = JSON.parse(raw) as Session;
      if (typeof s.token !== 'string' || typeof s.viewer !== 'string') return null;
      const exp = Date.parse(s.expiresAt);
      if (Number.isFinite(exp) && exp - this.now() < 60_000) return null;
      return s;
    } catch {
      return null;
    }
  }

  set(s: Session): void {
    try {
      this.kv?.setItem(this.k, JSON.stringify(s));
    } catch {
      // storage full or blocked: the session lasts this page
    }
  }

  clear(): void {
    this.kv?.removeItem(this.k);
  }
}

/** A remembered setting (the admin key, the publish key, the display name...). */
export function remember(key: string, value?: string): string {
  const kv = storage();
  const k = `liveloop.${key}`;
  try {
    if (value === undefined) return kv?.getItem(k) ?? '';
    if (value) kv?.setItem(k, value);
    else kv?.removeItem(k);
  } catch {
    // blocked
  }
  return value ?? '';
}
