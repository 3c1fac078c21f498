import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, ApiError, parseApiError, SessionStore, type KeyValue } from '../src/room/api.js';
import { pageStream } from '../src/pages/location.js';

class Mem implements KeyValue {
  m = new Map<string, string>();
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

test('parseApiError', () => {
  const e = parseApiError(429, '{"error":{"code":"slow_mode","message":"wait"}}');
  assert.deepEqual([e.status, e.code, e.message], [429, 'slow_mode', 'wait']);
  const f = parseApiError(502, 'Bad Gateway');
  assert.deepEqual([f.status, f.code, f.message], [502, 'http_502', 'Bad Gateway']);
});

test('api: JSON in and out, bearer token, errors as ApiError', async () => {
  const calls: [string, RequestInit][] = [];
  const ok = (async (url: string, init: RequestInit) => {
    calls.push([url, init]);
    return new Response('{"seq":3}', { status: 201 });
  }) as unknown as typeof fetch;
  assert.deepEqual(await api('POST', '/x', { token: 'T', body: { a: 1 } }, ok), { seq: 3 });
  assert.equal((calls[0]![1].headers as Record<string, string>)['Authorization'], 'Bearer T');
  assert.equal(calls[0]![1].body, '{"a":1}');
  const bad = (async () => new Response('{"error":{"code":"forbidden","message":"no"}}', { status: 403 })) as unknown as typeof fetch;
  await assert.rejects(api('GET', '/x', {}, bad), (e: unknown) => e instanceof ApiError && e.code === 'forbidden');
  const down = (async () => {
    throw new TypeError('fetch failed');
  }) as unknown as typeof fetch;
  await assert.rejects(api('GET', '/x', {}, down), (e: unknown) => e instanceof ApiError && e.code === 'network');
});

test('SessionStore: per role, expiring tokens are not used', () => {
  const kv = new Mem();
  let now = Date.parse('2030-01-01T00:00:00Z');
  const viewer = new SessionStore('viewer', kv, () => now);
  const host = new SessionStore('host', kv, () => now);
  assert.equal(viewer.get(), null);
  viewer.set({ token: 'T', viewer: 'v1', name: 'Ann', role: 'viewer', expiresAt: '2030-01-02T00:00:00Z' });
  assert.equal(viewer.get()?.token, 'T');
  assert.equal(host.get(), null);
  now = Date.parse('2030-01-01T23:59:30Z');
  assert.equal(viewer.get(), null);
  kv.setItem('liveloop.session.host', 'garbage');
  assert.equal(host.get(), null);
  viewer.clear();
  assert.equal(kv.m.has('liveloop.session.viewer'), false);
});

test('pageStream: from the path, else ?stream=', () => {
  assert.equal(pageStream('studio', '/studio/demo', ''), 'demo');
  assert.equal(pageStream('studio', '/studio/my%20show/', ''), 'my show');
  assert.equal(pageStream('studio', '/assets/studio.html', '?stream=test'), 'test');
  assert.equal(pageStream('studio', '/assets/studio.html', ''), 'demo');
});
