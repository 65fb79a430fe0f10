/**
 * The interactive `/docs` page: one self-contained HTML document (inline CSS and JS, no CDN, no
 * web fonts) that fetches only the OpenAPI document next to it, lists every route grouped by tag,
 * shows its schemas and lets the user send a request and watch the response as it streams in.
 *
 * The page script is written as plain ES2020 without template literals, so it can sit in a
 * `String.raw` here with its backslashes intact; tests evaluate it to check its helpers.
 */
import { invalid } from '../validate.js';

export interface DocsPageOptions {
  /** Page title. Default `'akachat API'`. */
  title?: string;
  /**
   * Where the page fetches the OpenAPI document. Must be a same-server path (relative, or
   * absolute without a host). Default `'./openapi.json'`: serve it next to the page
   * (`/docs` -> `/openapi.json`).
   */
  specUrl?: string;
}

/** Returns the docs page HTML. Throws InvalidArgumentError for a `specUrl` on another server. */
export function docsHtml(options: DocsPageOptions = {}): string {
  const { title = 'akachat API', specUrl = './openapi.json' } = options;
  if (/^[a-z][a-z0-9+.-]*:|^\/\/|^\\/i.test(specUrl)) {
    throw invalid('a same-server path', 'specUrl', specUrl);
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${PAGE_CSS}</style>
</head>
<body>
<header>
  <h1 id="title">${escapeHtml(title)}</h1>
  <span id="version"></span>
  <input id="filter" type="search" placeholder="Filter routes" aria-label="Filter routes">
  <input id="api-key" type="password" placeholder="API key (optional)" aria-label="API key" autocomplete="off">
</header>
<main id="app"><p class="note">Loading ${escapeHtml(specUrl)}…</p></main>
<script>
'use strict';
var SPEC_URL = ${scriptJson(specUrl)};
${PAGE_SCRIPT}
</script>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that is also safe inside a `<script>` element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const PAGE_CSS = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1d232a; --muted: #5f6b76; --line: #d9dee3; --panel: #f5f7f9;
  --get: #1f7a4d; --post: #1d5fb4; --put: #9a6400; --patch: #6d4bb3; --delete: #b3261e; --accent: #1d5fb4; }
@media (prefers-color-scheme: dark) { :root { --bg: #15191d; --fg: #e3e7eb; --muted: #9aa5b0; --line: #2d343b;
  --panel: #1d2227; --get: #4cc38a; --post: #6ea8fe; --put: #f0b45a; --patch: #b69cff; --delete: #ff8a80; --accent: #6ea8fe; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "Hiragino Sans", "Noto Sans JP", sans-serif; background: var(--bg); color: var(--fg); }
header { position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center;
  padding: .75rem 1.5rem; background: var(--panel); border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.2rem; margin: 0; }
#version { color: var(--muted); }
header input { font: inherit; padding: .3rem .5rem; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
#filter { flex: 1 1 12rem; }
main { max-width: 64rem; margin: 0 auto; padding: 1rem 1.5rem 4rem; }
.note { color: var(--muted); }
.error { color: var(--delete); white-space: pre-wrap; }
h2 { font-size: 1.1rem; margin: 2rem 0 .25rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
details.op { border: 1px solid var(--line); border-radius: 8px; margin: .5rem 0; background: var(--bg); }
details.op > summary { cursor: pointer; padding: .5rem .75rem; display: flex; gap: .75rem; align-items: baseline; list-style: none; }
details.op > summary::-webkit-details-marker { display: none; }
details.op[open] > summary { border-bottom: 1px solid var(--line); }
.method { font: 700 .8rem/1 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; min-width: 4.2rem; text-align: center;
  padding: .3rem .4rem; border-radius: 4px; color: #fff; background: var(--muted); }
.method.get { background: var(--get); } .method.post { background: var(--post); } .method.put { background: var(--put); }
.method.patch { background: var(--patch); } .method.delete { background: var(--delete); }
.path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-weight: 600; word-break: break-all; }
.summary { color: var(--muted); }
.body { padding: .75rem; display: grid; gap: .75rem; }
.body h3 { font-size: .95rem; margin: .25rem 0; }
ul.schema { margin: 0; padding-left: 1.1rem; font-size: .9rem; }
ul.schema li { margin: .1rem 0; }
.pname { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-weight: 600; }
.ptype { color: var(--accent); margin-left: .4rem; }
.req { color: var(--delete); margin-left: .3rem; font-size: .8rem; }
.pdesc { color: var(--muted); margin-left: .4rem; }
label.param { display: grid; grid-template-columns: 10rem 1fr; gap: .5rem; align-items: center; font-size: .9rem; }
label.param input, textarea { font: .85rem/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; width: 100%;
  padding: .4rem .5rem; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); color: var(--fg); }
textarea { min-height: 9rem; resize: vertical; }
.actions { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
button { font: inherit; padding: .35rem .9rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: transparent; color: var(--accent); }
button:disabled { opacity: .5; cursor: default; }
.status { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; color: var(--muted); }
pre { margin: 0; padding: .6rem .75rem; background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  font: .82rem/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-word; max-height: 28rem; overflow: auto; }
.hidden { display: none; }
`;

// Plain ES2020, no template literals: it lives in String.raw so "\n" stays an escape in the page.
const PAGE_SCRIPT = String.raw`var METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** Follows a "#/components/schemas/Name" reference; other schemas come back as they are. */
function resolveRef(spec, schema) {
  var seen = 0;
  while (schema && typeof schema.$ref === 'string' && seen++ < 20) {
    var parts = schema.$ref.replace(/^#\//, '').split('/');
    var target = spec;
    for (var i = 0; i < parts.length && target; i++) target = target[decodeURIComponent(parts[i])];
    schema = target || {};
  }
  return schema || {};
}

/** A value to prefill the request box: example, default, then a skeleton of required fields. */
function exampleFromSchema(spec, schema, depth) {
  schema = resolveRef(spec, schema);
  depth = depth || 0;
  if (schema.examples && schema.examples.length) return schema.examples[0];
  if (schema.default !== undefined) return schema.default;
  if (schema.const !== undefined) return schema.const;
  if (schema.enum && schema.enum.length) return schema.enum[0];
  var variants = schema.oneOf || schema.anyOf;
  if (variants && variants.length) return exampleFromSchema(spec, variants[0], depth + 1);
  var type = Array.isArray(schema.type) ? schema.type.filter(function (t) { return t !== 'null'; })[0] : schema.type;
  if (!type && schema.properties) type = 'object';
  if (depth > 6) return null;
  switch (type) {
    case 'object': {
      var result = {};
      var props = schema.properties || {};
      var required = schema.required || [];
      Object.keys(props).forEach(function (name) {
        var prop = resolveRef(spec, props[name]);
        var hasValue = prop.default !== undefined || (prop.examples && prop.examples.length) || prop.const !== undefined;
        if (required.indexOf(name) >= 0 || hasValue) result[name] = exampleFromSchema(spec, prop, depth + 1);
      });
      return result;
    }
    case 'array': return schema.items ? [exampleFromSchema(spec, schema.items, depth + 1)] : [];
    case 'string': return '';
    case 'number': case 'integer': return schema.minimum !== undefined ? schema.minimum : 0;
    case 'boolean': return false;
    default: return null;
  }
}

/** Operations grouped by tag, in the document's tag order; untagged ones under "other". */
function groupOperations(spec) {
  var groups = [];
  var byName = {};
  function group(name) {
    if (!byName[name]) {
      var described = (spec.tags || []).filter(function (t) { return t.name === name; })[0];
      byName[name] = { tag: name, description: described ? described.description : undefined, operations: [] };
    }
    return byName[name];
  }
  (spec.tags || []).forEach(function (t) { group(t.name); });
  Object.keys(spec.paths || {}).forEach(function (path) {
    METHODS.forEach(function (method) {
      var op = spec.paths[path][method];
      if (!op) return;
      var tags = op.tags && op.tags.length ? op.tags : ['other'];
      tags.forEach(function (tag) { group(tag).operations.push({ method: method, path: path, op: op }); });
    });
  });
  Object.keys(byName).forEach(function (name) { if (byName[name].operations.length) groups.push(byName[name]); });
  var order = (spec.tags || []).map(function (t) { return t.name; });
  groups.sort(function (a, b) {
    var ia = order.indexOf(a.tag), ib = order.indexOf(b.tag);
    return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib);
  });
  return groups;
}

/** Short type label: "string", "integer", "array<object>", "string | null", "enum". */
function typeLabel(spec, schema) {
  schema = resolveRef(spec, schema);
  if (schema.enum) return schema.enum.map(function (v) { return JSON.stringify(v); }).join(' | ');
  var variants = schema.oneOf || schema.anyOf;
  if (variants) return variants.map(function (v) { return typeLabel(spec, v); }).join(' | ');
  var type = Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type || (schema.properties ? 'object' : 'any'));
  if (type === 'array' && schema.items) return 'array<' + typeLabel(spec, schema.items) + '>';
  return type + (schema.format ? ' (' + schema.format + ')' : '');
}

/** Replaces {name} in a path with the URL-encoded value; missing values are reported. */
function fillPath(path, values) {
  var missing = [];
  var filled = path.replace(/\{([^}]+)\}/g, function (_, name) {
    var value = values[name];
    if (value === undefined || value === '') { missing.push(name); return '{' + name + '}'; }
    return encodeURIComponent(value).replace(/%2F/gi, '/');
  });
  return { url: filled, missing: missing };
}

/** The request as a shell command, for copying into a terminal or a bug report. */
function curlCommand(method, url, headers, body) {
  function quote(text) { return "'" + String(text).replace(/'/g, "'\\''") + "'"; }
  var parts = ['curl', '-N', '-X', method.toUpperCase(), quote(url)];
  Object.keys(headers).forEach(function (name) {
    var value = name.toLowerCase() === 'authorization' ? 'Bearer $AKACHAT_API_KEY' : headers[name];
    parts.push('-H', quote(name + ': ' + value));
  });
  if (typeof body === 'string' && body !== '') parts.push('--data-raw', quote(body));
  return parts.join(' ');
}

// ---- DOM -------------------------------------------------------------------------------------

function h(tag, props, children) {
  var el = document.createElement(tag);
  Object.keys(props || {}).forEach(function (key) {
    var value = props[key];
    if (value === undefined || value === null || value === false) return;
    if (key === 'className') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.indexOf('on') === 0) el.addEventListener(key.slice(2), value);
    else if (key === 'value') el.value = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  });
  (children || []).forEach(function (child) {
    if (child === undefined || child === null || child === false) return;
    el.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  });
  return el;
}

function schemaTree(spec, schema, depth) {
  schema = resolveRef(spec, schema);
  depth = depth || 0;
  var props = schema.properties;
  if (schema.type === 'array' && schema.items && resolveRef(spec, schema.items).properties) {
    return h('ul', { className: 'schema' }, [h('li', {}, [
      h('span', { className: 'ptype', text: typeLabel(spec, schema) }), schemaTree(spec, schema.items, depth + 1),
    ])]);
  }
  if (!props || depth > 6) {
    return h('ul', { className: 'schema' }, [h('li', {}, [
      h('span', { className: 'ptype', text: typeLabel(spec, schema) }),
      schema.description ? h('span', { className: 'pdesc', text: schema.description }) : null,
    ])]);
  }
  var required = schema.required || [];
  return h('ul', { className: 'schema' }, Object.keys(props).map(function (name) {
    var prop = resolveRef(spec, props[name]);
    var notes = [];
    if (prop.description) notes.push(prop.description);
    if (prop.default !== undefined) notes.push('default: ' + JSON.stringify(prop.default));
    if (prop.minimum !== undefined || prop.maximum !== undefined) {
      notes.push('range: ' + (prop.minimum !== undefined ? prop.minimum : '…') + ' to ' + (prop.maximum !== undefined ? prop.maximum : '…'));
    }
    var nested = prop.properties || (prop.items && resolveRef(spec, prop.items).properties);
    return h('li', {}, [
      h('span', { className: 'pname', text: name }),
      h('span', { className: 'ptype', text: typeLabel(spec, prop) }),
      required.indexOf(name) >= 0 ? h('span', { className: 'req', text: 'required' }) : null,
      notes.length ? h('span', { className: 'pdesc', text: '— ' + notes.join('; ') }) : null,
      nested ? schemaTree(spec, prop.items && !prop.properties ? prop.items : prop, depth + 1) : null,
    ]);
  }));
}

function firstContent(content) {
  var types = Object.keys(content || {});
  return types.length ? { type: types[0], media: content[types[0]] } : undefined;
}

function apiKeyInput() { return document.getElementById('api-key'); }

function renderOperation(spec, entry, base) {
  var op = entry.op;
  var parameters = op.parameters || [];
  var inputs = {};
  var paramRows = parameters.map(function (p) {
    var input = h('input', { type: 'text', placeholder: p.required ? 'required' : 'optional', 'aria-label': p.name });
    inputs[p.in + ':' + p.name] = input;
    return h('label', { className: 'param' }, [
      h('span', {}, [h('span', { className: 'pname', text: p.name }), h('span', { className: 'ptype', text: p.in })]), input,
    ]);
  });

  var body = op.requestBody ? firstContent(op.requestBody.content) : undefined;
  var bodyInput = null;
  var fileInputs = {};
  var bodySection = null;
  if (body) {
    var isForm = body.type.indexOf('multipart/form-data') === 0;
    var isBinary = body.type === 'application/octet-stream';
    var bodySchema = resolveRef(spec, body.media.schema);
    var formFields = [];
    if (isForm) {
      formFields = Object.keys(bodySchema.properties || {}).map(function (name) {
        var prop = resolveRef(spec, bodySchema.properties[name]);
        var input = prop.format === 'binary' ? h('input', { type: 'file', 'aria-label': name }) : h('input', { type: 'text', 'aria-label': name });
        fileInputs[name] = input;
        return h('label', { className: 'param' }, [h('span', { className: 'pname', text: name }), input]);
      });
    } else if (isBinary) {
      fileInputs[''] = h('input', { type: 'file', 'aria-label': 'file' });
      formFields = [fileInputs['']];
    } else {
      var example = body.media.example !== undefined ? body.media.example : exampleFromSchema(spec, bodySchema);
      bodyInput = h('textarea', { spellcheck: 'false', 'aria-label': 'Request body', value: typeof example === 'string' ? example : JSON.stringify(example, null, 2) });
    }
    bodySection = h('section', {}, [
      h('h3', { text: 'Request body (' + body.type + ')' }),
      schemaTree(spec, bodySchema),
    ].concat(formFields).concat([bodyInput]));
  }

  var responses = op.responses || {};
  var responseSection = h('section', {}, [h('h3', { text: 'Responses' })].concat(Object.keys(responses).map(function (status) {
    var response = responses[status];
    var content = firstContent(response.content);
    return h('div', {}, [
      h('span', { className: 'pname', text: status }), ' ', response.description || '',
      content ? h('span', { className: 'ptype', text: content.type }) : null,
      content && content.media.schema && Object.keys(content.media.schema).length ? schemaTree(spec, content.media.schema) : null,
    ]);
  })));

  var status = h('span', { className: 'status' });
  var output = h('pre', { className: 'hidden', 'aria-live': 'polite' });
  var curl = h('pre', { className: 'hidden' });
  var controller = null;
  var sendButton = h('button', { type: 'button', text: 'Try it' });
  var stopButton = h('button', { type: 'button', className: 'secondary', text: 'Stop', disabled: true });
  var curlButton = h('button', { type: 'button', className: 'secondary', text: 'curl' });

  function buildRequest() {
    var values = {};
    var query = [];
    var headers = {};
    parameters.forEach(function (p) {
      var value = inputs[p.in + ':' + p.name].value;
      if (p.in === 'path') values[p.name] = value;
      else if (value !== '' && p.in === 'query') query.push(encodeURIComponent(p.name) + '=' + encodeURIComponent(value));
      else if (value !== '' && p.in === 'header') headers[p.name] = value;
    });
    var filled = fillPath(entry.path, values);
    if (filled.missing.length) throw new Error('Fill in the path parameter ' + filled.missing.join(', '));
    var url = base + filled.url + (query.length ? '?' + query.join('&') : '');
    var key = apiKeyInput() ? apiKeyInput().value : '';
    if (key) headers.Authorization = 'Bearer ' + key;
    var payload;
    if (body && bodyInput) {
      payload = bodyInput.value;
      headers['Content-Type'] = body.type;
      if (body.type.indexOf('json') >= 0 && payload.trim() !== '') {
        try { JSON.parse(payload); } catch (e) { throw new Error('The request body is not valid JSON: ' + e.message); }
      }
    } else if (body && fileInputs[''] ) {
      payload = fileInputs[''].files && fileInputs[''].files[0];
      headers['Content-Type'] = 'application/octet-stream';
    } else if (body) {
      payload = new FormData();
      Object.keys(fileInputs).forEach(function (name) {
        var input = fileInputs[name];
        if (input.type === 'file') { if (input.files && input.files[0]) payload.append(name, input.files[0]); }
        else if (input.value !== '') payload.append(name, input.value);
      });
    }
    return { url: url, headers: headers, body: payload };
  }

  function send() {
    var request;
    try { request = buildRequest(); } catch (e) { status.textContent = e.message; return; }
    controller = new AbortController();
    sendButton.disabled = true;
    stopButton.disabled = false;
    output.className = '';
    output.textContent = '';
    status.textContent = 'Sending…';
    var started = Date.now();
    fetch(request.url, { method: entry.method.toUpperCase(), headers: request.headers, body: request.body, signal: controller.signal })
      .then(function (response) {
        var type = response.headers.get('content-type') || '';
        status.textContent = response.status + ' ' + response.statusText + ' · ' + type;
        if (!response.body) return response.text().then(function (text) { output.textContent = text; return type; });
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) { output.textContent += decoder.decode(); return type; }
            output.textContent += decoder.decode(chunk.value, { stream: true });
            status.textContent = response.status + ' ' + response.statusText + ' · ' + type + ' · ' + (Date.now() - started) + ' ms…';
            return pump();
          });
        }
        return pump();
      })
      .then(function (type) {
        status.textContent = status.textContent.replace(/ · \d+ ms…$/, '') + ' · ' + (Date.now() - started) + ' ms';
        if (type && type.indexOf('json') >= 0 && type.indexOf('ndjson') < 0) {
          try { output.textContent = JSON.stringify(JSON.parse(output.textContent), null, 2); } catch (e) { /* leave as received */ }
        }
      })
      .catch(function (error) {
        status.textContent = (error && error.name === 'AbortError' ? 'Stopped' : 'Failed: ' + (error && error.message)) + ' · ' + (Date.now() - started) + ' ms';
      })
      .then(function () { sendButton.disabled = false; stopButton.disabled = true; controller = null; });
  }

  sendButton.addEventListener('click', send);
  stopButton.addEventListener('click', function () { if (controller) controller.abort(); });
  curlButton.addEventListener('click', function () {
    try {
      var request = buildRequest();
      var absolute = /^https?:/.test(request.url) ? request.url : (typeof location !== 'undefined' ? location.origin : '') + request.url;
      curl.textContent = curlCommand(entry.method, absolute, request.headers, typeof request.body === 'string' ? request.body : '');
      curl.className = '';
    } catch (e) { status.textContent = e.message; }
  });

  var details = h('details', { className: 'op', 'data-search': (entry.method + ' ' + entry.path + ' ' + (op.summary || '') + ' ' + (op.tags || []).join(' ')).toLowerCase() }, [
    h('summary', {}, [
      h('span', { className: 'method ' + entry.method, text: entry.method.toUpperCase() }),
      h('span', { className: 'path', text: entry.path }),
      h('span', { className: 'summary', text: op.summary || '' }),
    ]),
    h('div', { className: 'body' }, [
      op.description ? h('p', { text: op.description }) : null,
      paramRows.length ? h('section', {}, [h('h3', { text: 'Parameters' })].concat(paramRows)) : null,
      bodySection,
      h('div', { className: 'actions' }, [sendButton, stopButton, curlButton, status]),
      curl,
      output,
      responseSection,
    ]),
  ]);
  return details;
}

function render(spec) {
  var app = document.getElementById('app');
  app.textContent = '';
  var info = spec.info || {};
  if (info.title) { document.getElementById('title').textContent = info.title; document.title = info.title; }
  document.getElementById('version').textContent = info.version ? 'v' + info.version : '';
  if (info.description) app.appendChild(h('p', { className: 'note', text: info.description }));
  var base = spec.servers && spec.servers.length ? spec.servers[0].url.replace(/\/$/, '') : '';
  var groups = groupOperations(spec);
  var sections = groups.map(function (group) {
    var ops = group.operations.map(function (entry) { return renderOperation(spec, entry, base); });
    var section = h('section', { 'data-tag': group.tag }, [
      h('h2', { text: group.tag }), group.description ? h('p', { className: 'note', text: group.description }) : null,
    ].concat(ops));
    app.appendChild(section);
    return { section: section, ops: ops };
  });
  if (!groups.length) app.appendChild(h('p', { className: 'note', text: 'No routes are described.' }));
  var filter = document.getElementById('filter');
  if (filter) filter.addEventListener('input', function () {
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    sections.forEach(function (s) {
      var shown = 0;
      s.ops.forEach(function (op) {
        var text = op.getAttribute('data-search');
        var match = words.every(function (w) { return text.indexOf(w) >= 0; });
        op.className = match ? 'op' : 'op hidden';
        if (match) shown++;
      });
      s.section.className = shown ? '' : 'hidden';
    });
  });
  var key = apiKeyInput();
  if (key) {
    try { key.value = sessionStorage.getItem('akachat-api-key') || ''; } catch (e) { /* storage disabled */ }
    key.addEventListener('input', function () {
      try { sessionStorage.setItem('akachat-api-key', key.value); } catch (e) { /* storage disabled */ }
    });
  }
}

function main() {
  return fetch(SPEC_URL, { headers: { Accept: 'application/json' } })
    .then(function (response) {
      if (!response.ok) throw new Error(SPEC_URL + ' answered ' + response.status + ' ' + response.statusText);
      return response.json();
    })
    .then(render)
    .catch(function (error) {
      var app = document.getElementById('app');
      app.textContent = '';
      app.appendChild(h('p', { className: 'error', text: 'Could not load the API description: ' + (error && error.message) }));
    });
}

if (typeof document !== 'undefined' && typeof window !== 'undefined') main();
`;
