import { describe, expect, it } from 'vitest';
import { checkApiKey, corsDecision, hostAllowed, isLocalOrigin, originAllowed } from '../../src/http/security.js';

describe('isLocalOrigin', () => {
  it.each([
    'http://localhost:3000', 'http://localhost', 'https://localhost:8443', 'http://127.0.0.1:5173', 'http://[::1]:8080', 'HTTP://LOCALHOST:3000',
  ])('accepts %s', (origin) => {
    expect(isLocalOrigin(origin)).toBe(true);
  });

  it.each([
    'http://localhost.evil.com', 'http://127.0.0.1.nip.io', 'http://192.168.1.5:3000', 'https://example.com', 'null', '',
    'file://localhost', 'ws://localhost:3000', 'not a url', undefined, null,
  ])('refuses %s', (origin) => {
    expect(isLocalOrigin(origin)).toBe(false);
  });
});

describe('originAllowed', () => {
  it('matches exact origins, local, * and wildcards that stay inside the host or port', () => {
    const list = ['https://app.example.com', 'https://*.trusted.dev', 'http://192.168.1.10:*', 'local'];
    expect(originAllowed('https://app.example.com', list)).toBe(true);
    expect(originAllowed('https://APP.example.com/', list)).toBe(true);
    expect(originAllowed('http://app.example.com', list)).toBe(false);
    expect(originAllowed('https://a.b.trusted.dev', list)).toBe(true);
    expect(originAllowed('https://evil.com/.trusted.dev', list)).toBe(false);
    expect(originAllowed('https://evil.com:443@x.trusted.dev', list)).toBe(false);
    expect(originAllowed('http://192.168.1.10:3000', list)).toBe(true);
    expect(originAllowed('http://192.168.1.100:3000', list)).toBe(false);
    expect(originAllowed('http://localhost:1234', list)).toBe(true);
    expect(originAllowed('null', ['null'])).toBe(true);
    expect(originAllowed('null', 'local')).toBe(false);
    expect(originAllowed('https://anything.example', '*')).toBe(true);
  });
});

describe('corsDecision', () => {
  const chat = { managementRoute: false };
  const manage = { managementRoute: true };

  it('lets requests without Origin through without CORS headers', () => {
    expect(corsDecision(undefined, undefined, chat)).toEqual({ allowed: true, headers: {} });
    expect(corsDecision(null, 'content-type', manage)).toEqual({ allowed: true, headers: {} });
  });

  it('allows local origins by default and echoes origin and requested headers', () => {
    expect(corsDecision('http://localhost:3000', 'content-type, authorization, x-stainless-os', chat)).toEqual({
      allowed: true,
      headers: {
        Vary: 'Origin',
        'Access-Control-Allow-Origin': 'http://localhost:3000',
        'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
        'Access-Control-Allow-Headers': 'content-type, authorization, x-stainless-os',
        'Access-Control-Max-Age': '600',
      },
    });
  });

  it('falls back to the default header list when the requested one is not made of header names', () => {
    expect(corsDecision('http://127.0.0.1:5173', 'content-type\r\nx-evil: 1', chat).headers['Access-Control-Allow-Headers'])
      .toBe('Content-Type, Authorization');
    expect(corsDecision('http://127.0.0.1:5173', undefined, chat).headers['Access-Control-Allow-Headers']).toBe('Content-Type, Authorization');
  });

  it('refuses other origins by default, keeping Vary', () => {
    const decision = corsDecision('https://evil.example', 'content-type', chat);
    expect(decision).toEqual({ allowed: false, reason: 'Origin https://evil.example may not call this server', headers: { Vary: 'Origin' } });
  });

  it('opens ordinary routes with allowedOrigins but keeps management routes local', () => {
    const open = { allowedOrigins: '*' as const };
    expect(corsDecision('https://aituberkit.example', null, { ...open, ...chat }).allowed).toBe(true);
    const refused = corsDecision('https://aituberkit.example', null, { ...open, ...manage });
    expect(refused.allowed).toBe(false);
    expect(refused.reason).toMatch(/management routes/);
    expect(corsDecision('http://localhost:8000', null, { ...open, ...manage }).allowed).toBe(true);
    expect(corsDecision('https://admin.example', null, { ...manage, managementOrigins: ['https://admin.example'] }).allowed).toBe(true);
    expect(corsDecision('http://localhost:8000', null, { ...manage, managementOrigins: ['https://admin.example'] }).allowed).toBe(false);
  });

  it('allows the server\'s own pages opened through another address (same origin)', () => {
    expect(corsDecision('http://192.168.1.5:8080', null, { ...manage, requestHost: '192.168.1.5:8080' }).allowed).toBe(true);
    expect(corsDecision('http://192.168.1.5:8080', null, { ...manage, requestHost: '192.168.1.5:9090' }).allowed).toBe(false);
    expect(corsDecision('http://192.168.1.5:8080', null, manage).allowed).toBe(false);
  });

  it('answers Private Network Access preflights when asked and applies custom methods and max age', () => {
    const decision = corsDecision('http://localhost:1', null, { ...chat, privateNetworkRequested: true, allowedMethods: ['GET', 'POST'], maxAgeSeconds: 5 });
    expect(decision.headers).toMatchObject({
      'Access-Control-Allow-Private-Network': 'true', 'Access-Control-Allow-Methods': 'GET, POST', 'Access-Control-Max-Age': '5',
    });
    expect(corsDecision('http://localhost:1', null, chat).headers).not.toHaveProperty('Access-Control-Allow-Private-Network');
  });
});

describe('hostAllowed', () => {
  const loopback = { bindHost: '127.0.0.1', port: 8080 };

  it('accepts the loopback names when bound to loopback', () => {
    for (const host of ['localhost:8080', '127.0.0.1:8080', '[::1]:8080', 'LOCALHOST:8080', 'localhost.:8080', 'localhost']) {
      expect(hostAllowed(host, loopback), host).toBe(true);
    }
  });

  it('refuses rebound names and other addresses when bound to loopback', () => {
    for (const host of ['evil.example:8080', 'attacker.localhost.evil:8080', '192.168.1.5:8080', '127.0.0.1.nip.io:8080', 'user@localhost:8080', 'localhost:99999', 'local host']) {
      expect(hostAllowed(host, loopback), host).toBe(false);
    }
  });

  it('ignores the port unless strictPort is set (SSH tunnels, docker -p)', () => {
    expect(hostAllowed('localhost:9000', loopback)).toBe(true);
    expect(hostAllowed('localhost:9000', { ...loopback, strictPort: true })).toBe(false);
    expect(hostAllowed('localhost:8080', { ...loopback, strictPort: true })).toBe(true);
    expect(hostAllowed('localhost', { bindHost: 'localhost', port: 80, strictPort: true })).toBe(true);
  });

  it('accepts the bind address when bound to one interface', () => {
    const lan = { bindHost: '192.168.1.5', port: 8080 };
    expect(hostAllowed('192.168.1.5:8080', lan)).toBe(true);
    expect(hostAllowed('localhost:8080', lan)).toBe(false);
    expect(hostAllowed('evil.example:8080', lan)).toBe(false);
    expect(hostAllowed('[::1]:8080', { bindHost: '::1', port: 8080 })).toBe(true);
  });

  it('accepts any IP literal plus configured names when bound to all interfaces', () => {
    const any = { bindHost: '0.0.0.0', port: 8080, extraHosts: ['akachat.local', 'proxy.example:443'] };
    for (const host of ['10.0.0.7:8080', '192.168.1.5', '[fe80::1]:8080', '[::1]:8080', 'localhost:8080', 'akachat.local:8080', 'akachat.local', 'proxy.example:443']) {
      expect(hostAllowed(host, any), host).toBe(true);
    }
    for (const host of ['evil.example:8080', 'proxy.example:8080', '999.1.1.1:8080', '10.0.0.7.evil.example']) {
      expect(hostAllowed(host, any), host).toBe(false);
    }
    expect(hostAllowed('[fe80::1]:8080', { bindHost: '::', port: 8080 })).toBe(true);
  });

  it('turns off with extraHosts "*" and accepts a missing Host header', () => {
    expect(hostAllowed('anything.example', { ...loopback, extraHosts: ['*'] })).toBe(true);
    expect(hostAllowed(undefined, loopback)).toBe(true);
    expect(hostAllowed('', loopback)).toBe(true);
  });
});

describe('checkApiKey', () => {
  it('accepts anything when no key is configured', () => {
    expect(checkApiKey(undefined, undefined)).toBe(true);
    expect(checkApiKey('Bearer sk-dummy', '')).toBe(true);
  });

  it('requires the exact bearer key when one is configured', () => {
    expect(checkApiKey('Bearer s3cret', 's3cret')).toBe(true);
    expect(checkApiKey('bearer   s3cret  ', 's3cret')).toBe(true);
    expect(checkApiKey('Bearer s3cre', 's3cret')).toBe(false);
    expect(checkApiKey('Bearer s3cret2', 's3cret')).toBe(false);
    expect(checkApiKey('s3cret', 's3cret')).toBe(false);
    expect(checkApiKey('Basic czNjcmV0', 's3cret')).toBe(false);
    expect(checkApiKey(undefined, 's3cret')).toBe(false);
    expect(checkApiKey('Bearer ', 's3cret')).toBe(false);
    expect(checkApiKey('Bearer 鍵🔑', '鍵🔑')).toBe(true);
  });
});
