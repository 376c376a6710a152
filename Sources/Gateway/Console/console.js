// mcp-gateway operator console. Plain JavaScript, no dependencies, no build step.
// Every value from the API is rendered with textContent / createElement, never parsed as HTML.
'use strict';

(function () {
  const KEY_STORE = 'mcp-gateway.apiKey';
  const $ = (id) => document.getElementById(id);
  const state = {
    key: null,
    tab: 'services',
    services: [],
    tools: null,            // [{federated, service, tool, definition}] once loaded
    toolsLoading: false,
    previewAction: null,    // () => Promise for the confirm button of the preview panel
    virtualEdit: null,      // name of the virtual server being edited
    virtualRate: null,      // its rate limit, kept on save (the form does not show it)
    missing: {},            // route family -> true once it answered 404
    replicasTimer: null,
    feedAbort: null,
    feedUnread: 0,
    refreshTimer: null,
  };

  // ---- DOM helpers --------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function status(message, kind) {
    const s = $('status');
    s.replaceChildren();
    if (!message) { s.hidden = true; return; }
    s.className = kind || 'info';
    s.appendChild(document.createTextNode(message));
    s.appendChild(h('button', { type: 'button', class: 'link', 'aria-label': 'dismiss', onclick: () => status(null) }, '×'));
    s.hidden = false;
  }

  function showError(err) {
    if (err instanceof ApiError) {
      status(`${err.status ? err.status + ' ' : ''}${err.code}: ${err.message}`, 'error');
    } else {
      status(String(err && err.message || err), 'error');
    }
  }

  function ago(iso) {
    const t = Date.parse(iso);
    if (!isFinite(t)) return iso || '';
    const s = Math.round((Date.now() - t) / 1000);
    if (s < 5) return 'just now';
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} d ago`;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  }

  function list(value) {
    if (Array.isArray(value)) return value.join(', ');
    if (value === undefined || value === null) return '';
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }

  function splitList(text) {
    return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  }

  // ---- the admin API ------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message, body) {
      super(message);
      this.status = status;
      this.code = code;
      this.body = body;
    }
  }

  async function api(method, path, body) {
    const headers = { 'X-API-Key': state.key, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', `the gateway did not answer (${e.message})`);
    }
    const text = await r.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!r.ok) {
      const err = data && typeof data.error === 'object' && data.error ? data.error : {};
      const e = new ApiError(r.status, err.code || `http_${r.status}`, err.message || r.statusText || 'request failed', data);
      if (r.status === 401 && state.key) signOut(`${e.code}: ${e.message}`);
      throw e;
    }
    return data;
  }

  // A route family that answered 404 (not built on this gateway yet): a note, and no more calls.
  function missingRoute(family, noteId, what) {
    state.missing[family] = true;
    const note = $(noteId);
    note.textContent = `${what} are not available on this gateway (the admin API answered 404 for them).`;
    note.hidden = false;
  }

  // ---- sign in / out -----------------------------------------------------------------------

  async function signIn(key) {
    state.key = key;
    try {
      await loadServices();
    } catch (e) {
      state.key = null;
      sessionStorage.removeItem(KEY_STORE);
      showError(e);
      return;
    }
    sessionStorage.setItem(KEY_STORE, key);
    $('login').hidden = true;
    $('tabs').hidden = false;
    $('logout').hidden = false;
    status(null);
    showTab(state.tab, state.tab === 'services');  // just loaded
    startFeed();
  }

  function signOut(reason) {
    state.key = null;
    sessionStorage.removeItem(KEY_STORE);
    if (state.feedAbort) state.feedAbort.abort();
    state.feedAbort = null;
    clearInterval(state.replicasTimer);
    state.replicasTimer = null;
    state.tools = null;
    state.missing = {};
    for (const t of document.querySelectorAll('.tab')) t.hidden = true;
    $('tabs').hidden = true;
    $('logout').hidden = true;
    $('feed-state').hidden = true;
    $('login').hidden = false;
    $('key').value = '';
    status(reason || null, reason ? 'error' : undefined);
  }

  // ---- tabs ---------------------------------------------------------------------------------

  function showTab(name, loaded) {
    state.tab = name;
    for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === name);
    for (const t of document.querySelectorAll('.tab')) t.hidden = t.id !== `tab-${name}`;
    clearInterval(state.replicasTimer);
    state.replicasTimer = null;
    const loaders = {
      services: () => loadServices(),
      tools: () => (state.tools ? renderTools() : loadTools()),
      virtual: () => loadVirtualServers(),
      tokens: () => loadTokens(),
      replicas: () => {
        state.replicasTimer = setInterval(() => loadReplicas().catch(() => {}), 5000);
        return loadReplicas();
      },
      feed: () => {
        state.feedUnread = 0;
        renderFeedBadge();
      },
    };
    if (!loaded) Promise.resolve(loaders[name] && loaders[name]()).catch(showError);
  }

  // ---- services -----------------------------------------------------------------------------

  async function loadServices() {
    const data = await api('GET', '/services');
    state.services = (data && data.services) || [];
    renderServices();
  }

  function healthBadge(health) {
    const s = (health && health.state) || 'unknown';
    const detail = [];
    if (health && health.lastError) detail.push(`last error: ${health.lastError}`);
    if (health && health.since) detail.push(`since ${health.since}`);
    if (health && health.circuit && health.circuit !== 'closed') detail.push(`circuit ${health.circuit}`);
    for (const r of (health && health.replicas) || []) detail.push(`replica ${r.replica}: ${r.state}`);
    return h('span', { class: `state state-${s}`, title: detail.join('\n') || undefined }, s);
  }

  function renderServices() {
    const body = $('services').tBodies[0];
    body.replaceChildren();
    for (const s of state.services) {
      const last = s.lastChange;
      body.appendChild(h('tr', { 'data-service': s.name },
        h('td', { class: 'name' }, s.name),
        h('td', null, healthBadge(s.health)),
        h('td', { class: 'url' }, s.url),
        h('td', { class: 'num' }, s.toolCount),
        h('td', { class: 'num' }, (s.resourceCount || 0) + (s.resourceTemplateCount || 0)),
        h('td', { class: 'num' }, s.promptCount || 0),
        h('td', { title: last ? last.at : undefined },
          last ? `${last.action} · ${last.cause} · ${ago(last.at)}` : ago(s.updatedAt)),
        h('td', { class: 'row-actions' },
          h('button', { type: 'button', class: 'secondary', 'data-action': 'history', onclick: () => showHistory(s.name) }, 'History'),
          h('button', { type: 'button', class: 'secondary', 'data-action': 'update', onclick: () => previewUpdate(s.name) }, 'Update'),
          h('button', { type: 'button', class: 'danger', 'data-action': 'delete', onclick: () => confirmDelete(s.name) }, 'Delete'))));
    }
    $('services-empty').hidden = state.services.length > 0;
  }

  function namesList(title, items, render) {
    if (!items || items.length === 0) return null;
    return h('div', { class: 'diff-group' }, h('h4', null, `${title} (${items.length})`),
      h('ul', null, items.map((i) => h('li', null, render(i)))));
  }

  function diffView(d) {
    const parts = [
      namesList('Added', d.added, (i) => h('code', null, i.name)),
      namesList('Removed', d.removed, (i) => h('code', null, i.name)),
      namesList('Changed', d.changed, (i) => [h('code', null, i.name), ` (${list(i.fields)})`,
        i.flagged ? h('span', { class: 'badge drift', title: 'input schema or annotations changed under the same name' }, 'drift') : null]),
      namesList('Shortened names', d.shortened, (i) => [h('code', null, i.tool || ''), ' → ', h('code', null, i.name || '')]),
      namesList('Collisions', d.collisions, (i) => h('code', null, typeof i === 'string' ? i : JSON.stringify(i))),
    ].filter(Boolean);
    if (typeof d.unchanged === 'number') parts.push(h('p', { class: 'note' }, `${d.unchanged} unchanged`));
    if (parts.length === 0) parts.push(h('p', { class: 'note' }, 'No definitions change.'));
    return h('div', { class: 'diff' }, parts);
  }

  function showPreview(title, diff, confirmLabel, action) {
    $('preview-title').textContent = title;
    $('preview-body').replaceChildren(diffView(diff));
    $('preview-confirm').textContent = confirmLabel;
    $('preview-confirm').disabled = false;
    state.previewAction = action;
    $('preview').hidden = false;
    $('preview').scrollIntoView({ block: 'nearest' });
  }

  function hidePreview() {
    state.previewAction = null;
    $('preview').hidden = true;
  }

  async function previewRegister(name, url) {
    const q = `/register?dryRun=true`;
    const d = await api('POST', q, { name, url });
    showPreview(`Register ${name} (${url}): what would change`, d, `Register ${name}`, async () => {
      const r = await api('POST', '/register', { name, url });
      $('register-form').reset();
      status(`Registered ${r.name}: ${r.toolCount} tools (registry version ${r.version}).`, 'ok');
    });
  }

  async function previewUpdate(name) {
    try {
      const d = await api('PUT', `/update/${encodeURIComponent(name)}?dryRun=true`);
      showPreview(`Update ${name} from ${d.url}: what would change`, d, `Update ${name}`, () => applyUpdate(name, []));
    } catch (e) {
      showError(e);
    }
  }

  async function applyUpdate(name, accepted) {
    const q = accepted.length ? `?accept=${accepted.map(encodeURIComponent).join(',')}` : '';
    try {
      const r = await api('PUT', `/update/${encodeURIComponent(name)}${q}`);
      status(`Updated ${r.name}: ${r.toolCount} tools (registry version ${r.version}).`, 'ok');
    } catch (e) {
      const changed = e instanceof ApiError && e.code === 'definitions_changed' && e.body && e.body.error && e.body.error.changed;
      if (!Array.isArray(changed)) throw e;
      // Pinned definitions: show what changed and let the operator accept the new hashes.
      showPreview(`${name}: pinned definitions changed — ${e.message}`, { changed }, 'Accept these changes and update',
        () => applyUpdate(name, changed.map((c) => c.newHash)));
      return false;
    }
  }

  function confirmDelete(name) {
    ask(`Delete the service ${name}? Its tools leave every replica's index.`, `Delete ${name}`, async () => {
      const r = await api('DELETE', `/delete/${encodeURIComponent(name)}`);
      status(`Deleted ${r.deleted} (registry version ${r.version}).`, 'ok');
      await loadServices();
    });
  }

  async function showHistory(name) {
    try {
      const data = await api('GET', `/services/${encodeURIComponent(name)}/history?limit=50`);
      const changes = (data && data.changes) || [];
      const drift = changes.reduce((n, c) => n + ((c.changed || []).filter((x) => x.flagged).length), 0);
      $('history-title').textContent = `History of ${name}: ${changes.length} change${changes.length === 1 ? '' : 's'}` +
        (drift ? `, ${drift} drifted definition${drift === 1 ? '' : 's'}` : ', no drift');
      $('history-body').replaceChildren(...changes.map((c) =>
        h('details', { class: 'change', open: changes.indexOf(c) === 0 },
          h('summary', null, h('span', { class: 'when', title: c.at }, `${c.at} (${ago(c.at)})`), ' ',
            h('strong', null, c.action), ` by ${c.cause} · version ${c.version}`,
            (c.changed || []).some((x) => x.flagged) ? h('span', { class: 'badge drift' }, 'drift') : null),
          diffView(c))));
      if (changes.length === 0) $('history-body').replaceChildren(h('p', { class: 'note' }, 'No history.'));
      $('history').hidden = false;
      $('history').scrollIntoView({ block: 'nearest' });
    } catch (e) {
      showError(e);
    }
  }

  // ---- tools --------------------------------------------------------------------------------

  const NAME_RULE = /^[a-zA-Z0-9_-]{1,64}$/;

  async function loadTools() {
    if (state.toolsLoading) return;
    state.toolsLoading = true;
    $('tool-count').textContent = 'Loading tool definitions…';
    try {
      await loadServices();
      const names = state.services.map((s) => s.name);
      const out = [];
      let next = 0;
      const worker = async () => {
        while (next < names.length) {
          const name = names[next++];
          try {
            const s = await api('GET', `/services/${encodeURIComponent(name)}`);
            for (const d of s.definitions || []) {
              const federated = `${name}__${d.name}`;
              out.push({ service: name, tool: d.name, federated: NAME_RULE.test(federated) ? federated : null, definition: d });
            }
          } catch (e) {
            if (e.status !== 404) throw e;  // deleted meanwhile
          }
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      out.sort((a, b) => (a.service + '\u0000' + a.tool).localeCompare(b.service + '\u0000' + b.tool));
      state.tools = out;
      renderTools();
    } finally {
      state.toolsLoading = false;
    }
  }

  function schemaType(s) {
    if (!s || typeof s !== 'object') return '';
    if (Array.isArray(s.enum)) return `one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`;
    if ('const' in s) return `= ${JSON.stringify(s.const)}`;
    let t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type || '');
    if (t === 'array' && s.items && typeof s.items === 'object') t = `array of ${schemaType(s.items) || 'any'}`;
    for (const k of ['anyOf', 'oneOf', 'allOf']) {
      if (Array.isArray(s[k])) t = (t ? t + ' ' : '') + `${k}(${s[k].map(schemaType).join(' | ')})`;
    }
    if (s.format) t += ` (${s.format})`;
    return t || 'any';
  }

  // An object schema as a table of its properties; nested objects as nested tables.
  function schemaView(schema, depth) {
    if (!schema || typeof schema !== 'object') return h('p', { class: 'note' }, 'No schema.');
    const props = schema.properties && typeof schema.properties === 'object' ? Object.entries(schema.properties) : [];
    if (props.length === 0) return h('p', { class: 'note' }, schema.type === 'object' ? 'No parameters.' : schemaType(schema));
    const required = new Set(Array.isArray(schema.required) ? schema.required : []);
    return h('table', { class: 'schema' },
      h('thead', null, h('tr', null, h('th', null, 'Parameter'), h('th', null, 'Type'), h('th', null, 'Description'))),
      h('tbody', null, props.map(([name, p]) => {
        const nested = p && typeof p === 'object' && depth < 4
          ? (p.type === 'object' && p.properties ? p : (p.items && p.items.properties ? p.items : null)) : null;
        const extra = [];
        if (p && 'default' in p) extra.push(`default ${JSON.stringify(p.default)}`);
        if (p && p.minimum !== undefined) extra.push(`≥ ${p.minimum}`);
        if (p && p.maximum !== undefined) extra.push(`≤ ${p.maximum}`);
        return h('tr', null,
          h('td', null, h('code', null, name), required.has(name) ? h('span', { class: 'required', title: 'required' }, ' *') : null),
          h('td', null, schemaType(p)),
          h('td', null, (p && p.description) || '', extra.length ? h('span', { class: 'note' }, ` (${extra.join(', ')})`) : null,
            nested ? schemaView(nested, depth + 1) : null));
      })));
  }

  function toolView(t) {
    const d = t.definition;
    const title = d.title || (d.annotations && d.annotations.title);
    const hints = d.annotations ? Object.entries(d.annotations).filter(([k, v]) => k.endsWith('Hint') && v === true).map(([k]) => k.replace(/Hint$/, '')) : [];
    return h('details', { class: 'tool', 'data-tool': t.federated || `${t.service}/${t.tool}` },
      h('summary', null,
        h('code', { class: 'tool-name' }, t.federated || t.tool), ' ',
        h('span', { class: 'service-tag' }, t.service),
        title ? h('span', { class: 'tool-title' }, ` ${title}`) : null,
        hints.map((x) => h('span', { class: 'badge' }, x)),
        h('span', { class: 'tool-desc' }, (d.description || '').split('\n')[0])),
      h('div', { class: 'tool-body' },
        t.federated ? null : h('p', { class: 'note' }, `Its federated name is shortened with a hash: ${t.service}__${t.tool} does not fit the name rule.`),
        d.description ? h('p', { class: 'description' }, d.description) : null,
        h('h4', null, 'Input'), schemaView(d.inputSchema, 0),
        d.outputSchema ? [h('h4', null, 'Output'), schemaView(d.outputSchema, 0)] : null,
        h('details', { class: 'raw' }, h('summary', null, 'Definition as JSON'), h('pre', null, JSON.stringify(d, null, 2)))));
  }

  function renderTools() {
    const all = state.tools || [];
    const q = $('tool-search').value.trim().toLowerCase();
    const hits = q ? all.filter((t) => (t.federated || t.tool).toLowerCase().includes(q) || t.service.includes(q) ||
      ((t.definition.description || '') + ' ' + (t.definition.title || '')).toLowerCase().includes(q)) : all;
    const shown = hits.slice(0, 200);
    $('tool-count').textContent = `${hits.length} of ${all.length} tools` + (hits.length > shown.length ? ` (showing the first ${shown.length}: refine the search)` : '');
    $('tool-list').replaceChildren(...shown.map(toolView));
  }

  // ---- virtual servers ----------------------------------------------------------------------

  function items(data, key) {
    if (Array.isArray(data)) return data;
    if (data && Array.isArray(data[key])) return data[key];
    return [];
  }

  // A list from a route this gateway may not serve yet: on 404 the tab shows a note instead.
  async function loadOptional(family, path, key, what, render) {
    if (state.missing[family]) return;
    try {
      render(items(await api('GET', path), key));
    } catch (e) {
      if (e.status !== 404) throw e;
      missingRoute(family, `${family}-note`, what);
      $(`${family}-body`).hidden = true;
    }
  }

  const loadVirtualServers = () => loadOptional('virtual', '/virtual-servers', 'virtualServers', 'Virtual servers', renderVirtualServers);

  function renderVirtualServers(list_) {
    const body = $('virtual').tBodies[0];
    body.replaceChildren(...list_.map((v) => h('tr', { 'data-virtual': v.name },
      h('td', { class: 'name' }, v.name),
      h('td', null, h('code', null, `/mcp/${v.name}`)),
      h('td', null, list(v.include)),
      h('td', null, list(v.exclude)),
      h('td', null, v.overrides && Object.keys(v.overrides).length ? h('pre', null, JSON.stringify(v.overrides, null, 2)) : ''),
      h('td', { class: 'row-actions' },
        h('button', { type: 'button', class: 'secondary', onclick: () => editVirtual(v) }, 'Edit'),
        h('button', { type: 'button', class: 'danger', onclick: () => ask(`Delete the virtual server ${v.name}? Its clients lose /mcp/${v.name}.`,
          `Delete ${v.name}`, async () => {
            await api('DELETE', `/virtual-servers/${encodeURIComponent(v.name)}`);
            status(`Deleted virtual server ${v.name}.`, 'ok');
            await loadVirtualServers();
          }) }, 'Delete')))));
    if (list_.length === 0) body.appendChild(h('tr', null, h('td', { colspan: 6, class: 'note' }, 'No virtual servers.')));
  }

  function editVirtual(v) {
    state.virtualEdit = v ? v.name : null;
    state.virtualRate = v && v.rateLimit ? v.rateLimit : null;
    $('vs-name').value = v ? v.name : '';
    $('vs-name').disabled = !!v;
    $('vs-include').value = v ? list(v.include) : '';
    $('vs-exclude').value = v ? list(v.exclude) : '';
    $('vs-overrides').value = v && v.overrides && Object.keys(v.overrides).length ? JSON.stringify(v.overrides, null, 2) : '';
    $('virtual-form-title').textContent = v ? `Edit ${v.name}` : 'New virtual server';
    $('vs-submit').textContent = v ? 'Save' : 'Create';
    $('vs-cancel').hidden = !v;
  }

  async function submitVirtual() {
    const body = { include: splitList($('vs-include').value), exclude: splitList($('vs-exclude').value) };
    const overrides = $('vs-overrides').value.trim();
    if (overrides) {
      try { body.overrides = JSON.parse(overrides); } catch (e) { throw new Error(`Overrides are not valid JSON: ${e.message}`); }
    }
    if (state.virtualEdit) {
      // PUT replaces the whole definition: keep what the form does not show.
      if (state.virtualRate) body.rateLimit = state.virtualRate;
      await api('PUT', `/virtual-servers/${encodeURIComponent(state.virtualEdit)}`, body);
      status(`Saved virtual server ${state.virtualEdit}.`, 'ok');
    } else {
      body.name = $('vs-name').value.trim();
      await api('POST', '/virtual-servers', body);
      status(`Created virtual server ${body.name}.`, 'ok');
    }
    editVirtual(null);
    await loadVirtualServers();
  }

  // ---- tokens -------------------------------------------------------------------------------

  const loadTokens = () => loadOptional('tokens', '/tokens', 'tokens', 'Tokens', renderTokens);

  function renderTokens(tokens) {
    const body = $('tokens').tBodies[0];
    body.replaceChildren(...tokens.map((t) => h('tr', { 'data-token': t.id },
      h('td', null, h('code', null, t.id)),
      h('td', { class: 'name' }, t.name),
      h('td', null, list(t.virtualServers)),
      h('td', { title: t.expiresAt || undefined }, t.expiresAt ? `${t.expiresAt}${t.expired ? ' (expired)' : ''}` : 'never'),
      h('td', null, perMinute(t.rateLimit)),
      h('td', { title: t.createdAt || undefined }, t.createdAt ? ago(t.createdAt) : ''),
      h('td', { class: 'row-actions' },
        h('button', { type: 'button', class: 'danger', onclick: () => ask(`Revoke the token ${t.name || t.id}? Clients using it get 401.`,
          'Revoke', async () => {
            await api('DELETE', `/tokens/${encodeURIComponent(t.id)}`);
            status(`Revoked token ${t.name || t.id}.`, 'ok');
            await loadTokens();
          }) }, 'Revoke')))));
    if (tokens.length === 0) body.appendChild(h('tr', null, h('td', { colspan: 7, class: 'note' }, 'No tokens.')));
  }

  // "60" or {"perMinute": 60}: the API's {"perMinute": N}.
  function rateLimit(text) {
    let value;
    try { value = JSON.parse(text); } catch (e) { throw new Error('Rate limit must be a number of calls per minute'); }
    return typeof value === 'number' ? { perMinute: value } : value;
  }

  const perMinute = (r) => (r && typeof r.perMinute === 'number' ? `${r.perMinute}/min` : '');

  async function submitToken() {
    const body = { name: $('tok-name').value.trim(), virtualServers: splitList($('tok-vs').value) };
    const expires = $('tok-expires').value.trim();
    if (expires) body.expiresAt = expires;
    const rate = $('tok-rate').value.trim();
    if (rate) body.rateLimit = rateLimit(rate);
    const r = await api('POST', '/tokens', body);
    const secret = r && (r.token || r.secret || r.value);
    $('token-value').textContent = typeof secret === 'string' ? secret : JSON.stringify(r);
    $('token-secret').hidden = false;
    $('token-form').reset();
    await loadTokens();
  }

  // ---- replicas -----------------------------------------------------------------------------

  async function loadReplicas() {
    if (state.missing.replicas) return;
    let data;
    try {
      data = await api('GET', '/replicas');
    } catch (e) {
      if (e.status === 404) {
        clearInterval(state.replicasTimer);
        missingRoute('replicas', 'replicas-note', 'Replica heartbeats');
        return;
      }
      throw e;
    }
    const replicas = (data && data.replicas) || [];
    const behind = replicas.filter((r) => !r.current).length;
    $('replicas-note').textContent = `${replicas.length} live replica${replicas.length === 1 ? '' : 's'}; newest registry version ${data.version}` +
      (behind ? `; ${behind} not on it yet` : '; all on it');
    $('replicas').tBodies[0].replaceChildren(...replicas.map((r) => h('tr', { 'data-replica': r.id, class: r.self ? 'self' : undefined },
      h('td', null, h('code', null, r.id), r.self ? h('span', { class: 'badge' }, 'this one') : null),
      h('td', null, r.address),
      h('td', null, String(r.version)),
      h('td', { class: 'num' }, duration(r.uptimeSeconds)),
      h('td', null, h('span', { class: r.current ? 'state state-healthy' : 'state state-degraded' }, r.current ? 'current' : 'behind')))));
  }

  // ---- live feed ----------------------------------------------------------------------------

  function setFeedState(text, kind) {
    const s = $('feed-state');
    s.textContent = text;
    s.className = `feed-state ${kind}`;
    s.hidden = false;
  }

  function renderFeedBadge() {
    const b = $('feed-badge');
    b.textContent = String(state.feedUnread);
    b.hidden = state.feedUnread === 0;
  }

  function feedItem(type, data) {
    const now = new Date();
    let text;
    if (type === 'registry') {
      text = `${data.action}${data.service ? ' ' + data.service : ''} → version ${data.version}` +
        (data.previous !== null && data.previous !== undefined ? ` (from ${data.previous})` : '');
    } else if (type === 'health') {
      text = `${data.service}: ${data.from} → ${data.to}`;
    } else if (type === 'hello') {
      text = `connected to replica ${data.replica} at version ${data.version}`;
    } else {
      text = JSON.stringify(data);
    }
    const li = h('li', { class: `feed-${type}`, 'data-type': type },
      h('time', { datetime: now.toISOString() }, now.toLocaleTimeString()), ' ',
      h('span', { class: 'badge' }, type), ' ', text);
    const feed = $('feed');
    feed.insertBefore(li, feed.firstChild);
    while (feed.childElementCount > 200) feed.removeChild(feed.lastChild);
    if (type !== 'hello' && state.tab !== 'feed') {
      state.feedUnread++;
      renderFeedBadge();
    }
  }

  function onFeedEvent(type, data) {
    feedItem(type, data);
    if (type === 'registry' || type === 'health') {
      // Follow the change: the lists the operator looks at reload once the burst settles.
      clearTimeout(state.refreshTimer);
      state.refreshTimer = setTimeout(() => {
        if (!state.key) return;
        if (type === 'registry') state.tools = null;
        if (state.tab === 'services') loadServices().catch(() => {});
        if (state.tab === 'tools' && type === 'registry') loadTools().catch(() => {});
        if (state.tab === 'replicas') loadReplicas().catch(() => {});
      }, 300);
    }
  }

  function parseBlock(block) {
    let type = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;  // comment (keep-alive)
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    try { onFeedEvent(type, JSON.parse(data.join('\n'))); } catch (e) { /* not JSON: ignored */ }
  }

  // EventSource cannot send X-API-Key, so the stream is read with fetch(). It reconnects with a
  // backoff; a 401 signs out, a 404 says the gateway has no feed and stops.
  async function startFeed() {
    if (state.feedAbort) state.feedAbort.abort();
    const ctl = new AbortController();
    state.feedAbort = ctl;
    let backoff = 1000;
    while (state.key && !ctl.signal.aborted) {
      try {
        const r = await fetch('/events', { headers: { 'X-API-Key': state.key, Accept: 'text/event-stream' }, signal: ctl.signal,
          cache: 'no-store', credentials: 'omit' });
        if (r.status === 401) { signOut('the key was refused'); return; }
        if (r.status === 404) { setFeedState('no live feed', 'off'); return; }
        if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
        setFeedState('live', 'on');
        backoff = 1000;
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value.replace(/\r\n?/g, '\n');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            parseBlock(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } catch (e) {
        if (ctl.signal.aborted) return;
      }
      if (ctl.signal.aborted || !state.key) return;
      setFeedState('reconnecting…', 'wait');
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, 30000);
    }
  }

  // ---- confirmation dialog ------------------------------------------------------------------

  let pending = null;

  function ask(text, label, action) {
    pending = action;
    $('confirm-text').textContent = text;
    $('confirm-yes').textContent = label;
    $('confirm-yes').disabled = false;
    $('confirm').showModal();
  }

  // ---- wiring -------------------------------------------------------------------------------

  async function busy(button, work) {
    button.disabled = true;
    try {
      return await work();
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
    }
  }

  function init() {
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const key = $('key').value.trim();
      if (key) signIn(key);
    });
    $('logout').addEventListener('click', () => signOut(null));
    for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));

    $('register-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      hidePreview();
      const button = ev.submitter || $('register-form').querySelector('button[type=submit]');
      busy(button, () => previewRegister($('reg-name').value.trim(), $('reg-url').value.trim()));
    });
    $('services-refresh').addEventListener('click', (ev) => busy(ev.currentTarget, loadServices));
    $('preview-cancel').addEventListener('click', hidePreview);
    $('preview-confirm').addEventListener('click', (ev) => busy(ev.currentTarget, async () => {
      const action = state.previewAction;
      if (!action) return;
      const result = await action();
      if (result !== false) hidePreview();
      await loadServices();
    }));
    $('history-close').addEventListener('click', () => { $('history').hidden = true; });

    $('tool-search').addEventListener('input', () => { if (state.tools) renderTools(); });
    $('tools-refresh').addEventListener('click', (ev) => busy(ev.currentTarget, () => { state.tools = null; return loadTools(); }));

    $('virtual-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy($('vs-submit'), submitVirtual);
    });
    $('vs-cancel').addEventListener('click', () => editVirtual(null));
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy($('token-form').querySelector('button[type=submit]'), submitToken);
    });
    $('token-secret-close').addEventListener('click', () => {
      $('token-value').textContent = '';
      $('token-secret').hidden = true;
    });

    $('confirm-no').addEventListener('click', () => { pending = null; $('confirm').close(); });
    $('confirm-yes').addEventListener('click', (ev) => busy(ev.currentTarget, async () => {
      const action = pending;
      pending = null;
      $('confirm').close();
      if (action) await action();
    }));

    const saved = sessionStorage.getItem(KEY_STORE);
    if (saved) signIn(saved);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
