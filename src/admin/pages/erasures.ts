/**
 * Erasures: open and finished requests, each system's status, due dates with overdue ones
 * highlighted, and receipts to download (the body of `GET /v1/erasures/{id}/receipt`); a form
 * starts one (`POST /v1/erasures`) by number or BSUID, after an explicit confirmation.
 */
import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import type { Api, ApiError } from '../api.ts';
import { type AdminEnv, requireCsrf, requirePage, requireSession } from '../guard.ts';
import { age, badge, csrfField, EXAMPLE_PHONE, notice, PAGES, render, when } from '../layout.ts';

type C = Context<AdminEnv>;

interface ErasureView {
  id: string;
  subject: string;
  status: 'open' | 'completed';
  source: string;
  receivedAt: string;
  dueAt: string;
  completedAt: string | null;
  overdue: boolean;
  tasks: Array<{
    system: string;
    status: string;
    attempts: number;
    records: number;
    lastError: string | null;
  }>;
  receipt: Record<string, unknown> | null;
}

function startForm(c: C, typed = '', problem?: string) {
  return html`<section class="card"><h2>Start an erasure</h2>
    <form method="post" action="/admin/erasures" id="start-erasure">${csrfField(c)}
      <div class="field"><label for="erase-phone">Phone number (E.164 or WhatsApp id) or WhatsApp BSUID</label>
        <input type="text" id="erase-phone" name="phone" autocomplete="off" placeholder="${EXAMPLE_PHONE}"
          value="${typed}" aria-describedby="erase-error" required />
        <div id="erase-error" class="issue">${problem ?? ''}</div></div>
      <div class="field"><label class="check"><input type="checkbox" name="confirm" value="yes" required />
        The person asked to be erased (Art. 17). Their data is deleted here and in every CRM and they are
        never messaged again; this cannot be undone.</label></div>
      <button class="danger" type="submit">Start the erasure</button></form></section>`;
}

/** Registers the erasure pages. */
export function erasurePages(r: Hono<AdminEnv>, api: Api): void {
  const guard = [requireSession, requirePage(PAGES.erasures)] as const;

  const page = async (c: C, top: unknown = '', status: 200 | 400 | 409 = 200) => {
    const now = c.var.services.clock().getTime();
    const res = await api<{ erasures: ErasureView[]; overdue: number }>(c, 'GET', '/v1/erasures?limit=200');
    const all = res.body.erasures ?? [];
    const rows = (list: ErasureView[]) =>
      list.length === 0
        ? html`<p class="muted">None.</p>`
        : html`<table class="erasures"><thead><tr><th>request</th><th>from</th><th>received</th><th>due</th>
          <th>systems</th><th>status</th><th>receipt</th></tr></thead><tbody>${list.map(
            (e) => html`<tr class="${e.overdue ? 'overdue' : ''}" data-erasure="${e.id}">
              <td><code>${e.id.slice(0, 8)}</code></td><td>${e.source}</td><td>${when(e.receivedAt)}</td>
              <td>${when(e.dueAt)}${
                e.overdue
                  ? html` ${badge('overdue')} <span class="issue">by ${age(now - Date.parse(e.dueAt))}</span>`
                  : e.status === 'open'
                    ? html` <span class="muted">(in ${age(Date.parse(e.dueAt) - now)})</span>`
                    : ''
              }</td>
              <td>${e.tasks.map(
                (t) =>
                  html`<div>${t.system}: ${badge(t.status)}${t.records ? ` ${t.records} record(s)` : ''}${
                    t.lastError ? html` <span class="issue">${t.lastError}</span>` : ''
                  }</div>`,
              )}</td>
              <td>${badge(e.status)}${e.completedAt ? html`<div class="muted">${when(e.completedAt)}</div>` : ''}</td>
              <td>${
                e.receipt
                  ? html`<a href="/admin/erasures/${e.id}/receipt" download>Download receipt</a>`
                  : html`<span class="muted">when finished</span>`
              }</td></tr>`,
          )}</tbody></table>`;
    const open = all.filter((e) => e.status === 'open');
    return render(
      c,
      'Erasures',
      html`${top}${res.body.overdue ? notice(`${res.body.overdue} erasure(s) are overdue (Art. 12(3): one month).`, 'alert') : ''}
      <section class="card"><h2>Open (${open.length})</h2>${rows(open)}</section>
      <section class="card"><h2>Finished</h2>${rows(all.filter((e) => e.status === 'completed'))}</section>
      <p class="muted">People appear only as a keyed hash here: an erasure holds no personal data.</p>`,
      status,
    );
  };

  r.get('/erasures', ...guard, (c) => {
    const started = c.req.query('started');
    const top = started
      ? notice(
          `Erasure ${started.slice(0, 8)} started: every system is told; the receipt follows when all are done.`,
        )
      : '';
    return page(c, html`${top}${startForm(c)}`);
  });

  r.post('/erasures', ...guard, requireCsrf, async (c) => {
    const body = await c.req.parseBody();
    const typed = String(body.phone ?? '')
      .trim()
      .slice(0, 400);
    if (body.confirm !== 'yes') {
      return page(c, startForm(c, typed, 'Tick the confirmation: nothing was started.'), 400);
    }
    const res = await api<{ id?: string } & ApiError>(c, 'POST', '/v1/erasures', { phone: typed });
    if (res.status >= 300 || !res.body.id) {
      // the number stays in the field, so a typo can be mended
      const problem = `Nothing was started: ${res.body.error?.message ?? 'the erasure was refused'}`;
      return page(c, startForm(c, typed, problem), res.status === 409 ? 409 : 400);
    }
    return c.redirect(`/admin/erasures?started=${encodeURIComponent(res.body.id)}`, 303);
  });

  r.get('/erasures/:id/receipt', ...guard, async (c) => {
    const id = c.req.param('id');
    const res = await api<Record<string, unknown> & ApiError>(
      c,
      'GET',
      `/v1/erasures/${encodeURIComponent(id)}/receipt`,
    );
    if (res.status !== 200) {
      const status = res.status === 404 ? 404 : 409;
      return render(c, 'Receipt', notice(res.body.error?.message ?? 'no receipt', 'alert'), status);
    }
    c.header('content-disposition', res.headers.get('content-disposition') ?? 'attachment');
    return c.json(res.body, 200);
  });
}
