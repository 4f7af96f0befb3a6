/**
 * Compliance for the data protection officer: the record of processing (Art. 30) and the GDPR
 * checklist, as `GET /v1/compliance` builds them from the running configuration, and the same
 * report as a Markdown download (`GET /v1/compliance/record`, audited there). The summary and what
 * fails come first; each part is a `<details>` section (the checklist open, the record closed).
 */
import type { Hono } from 'hono';
import { html } from 'hono/html';
import type { ComplianceReport } from '../../compliance/types.ts';
import type { Api, ApiError, RawApi } from '../api.ts';
import { type AdminEnv, requirePage, requireSession } from '../guard.ts';
import { badge, notice, PAGES, render, when } from '../layout.ts';

const list = (items: string[]) =>
  items.length ? html`${items.join(', ')}` : html`<span class="muted">none</span>`;

function recordView(r: ComplianceReport['record']) {
  const c = r.controller;
  return html`<details class="section card" id="record"><summary><h2>Record of processing (Art. 30)</h2></summary>
    <details class="section" open><summary><h3>Controller and processing</h3></summary><dl class="kv"><dt>controller</dt><dd>${c.name}</dd>
      <dt>contact</dt><dd>${c.contact ?? 'not configured (CONTROLLER_CONTACT)'}</dd>
      <dt>data protection officer</dt><dd>${c.dpoContact ?? 'not configured (DPO_CONTACT)'}</dd>
      <dt>privacy policy</dt><dd>${c.privacyPolicyUrl}</dd>
      <dt>processing</dt><dd>${r.processing}</dd>
      <dt>data subjects</dt><dd>${list(r.dataSubjects)}</dd>
      <dt>stored in</dt><dd>${r.storage.engine} (${r.storage.runtime}): <code>${r.storage.location}</code></dd></dl></details>
    <details class="section"><summary><h3>Purposes and the exact consent texts</h3></summary>
    ${r.purposes.map(
      (p) =>
        html`<h4>${p.id} <span class="muted">(${p.legalBasis})</span></h4>${p.texts.map(
          (t) => html`<div>${t.locale}, version <code>${t.version}</code>${t.current ? ' (current)' : ''}:
          <blockquote>${t.text}</blockquote></div>`,
        )}`,
    )}</details>
    <details class="section"><summary><h3>Categories of data</h3></summary>
    <table><thead><tr><th>category</th><th>items</th><th>storage</th></tr></thead><tbody>${r.categories.map(
      (d) => html`<tr><td>${d.category}</td><td>${list(d.items)}</td><td>${d.storage}</td></tr>`,
    )}</tbody></table></details>
    <details class="section"><summary><h3>Recipients</h3></summary>
    <table><thead><tr><th>recipient</th><th>vendor</th><th>sent</th><th>received</th><th>transfers</th></tr></thead>
    <tbody>${r.recipients.map(
      (x) => html`<tr data-recipient="${x.id}"><td>${x.name}</td><td>${x.vendor}</td><td>${list(x.sent)}</td>
        <td>${list(x.received)}</td><td>${x.transfers}</td></tr>`,
    )}</tbody></table></details>
    <details class="section"><summary><h3>Retention</h3></summary>
    <table><thead><tr><th>data</th><th>kept for</th><th>setting</th></tr></thead><tbody>${r.retention.map(
      (x) =>
        html`<tr><td>${x.data}</td><td>${x.period}</td><td>${x.setting ? html`<code>${x.setting}</code>` : '–'}</td></tr>`,
    )}</tbody></table></details>
    <details class="section"><summary><h3>Security measures (Art. 32)</h3></summary>
    <table><thead><tr><th>measure</th><th>in place</th><th>detail</th></tr></thead><tbody>${r.security.map(
      (x) =>
        html`<tr><td>${x.measure}</td><td>${badge(x.inPlace ? 'ok' : 'fail')}</td><td>${x.detail}</td></tr>`,
    )}</tbody></table></details></details>`;
}

/** Registers the compliance page and its download. */
export function compliancePages(r: Hono<AdminEnv>, api: Api, raw: RawApi): void {
  const guard = [requireSession, requirePage(PAGES.compliance)] as const;

  r.get('/compliance', ...guard, async (c) => {
    const res = await api<ComplianceReport & ApiError>(c, 'GET', '/v1/compliance');
    if (res.status !== 200) return render(c, 'Compliance', notice(res.body.error?.message, 'alert'), 502);
    const rep = res.body;
    const failing = rep.checklist.filter((i) => i.status === 'fail');
    return render(
      c,
      'Compliance',
      html`<section class="card summary"><p>Generated ${when(rep.generatedAt)} from the running configuration
        (${rep.environment}): ${badge('ok')} ${rep.summary.ok} · ${badge('warn')} ${rep.summary.warn} ·
        ${badge('fail')} ${rep.summary.fail}</p>${
          failing.length
            ? html`<p><strong>Failing:</strong></p><ul class="failing">${failing.map(
                (i) => html`<li><a href="#check-${i.id}">${i.duty}</a> (${i.article}): ${i.detail}</li>`,
              )}</ul>`
            : html`<p>No duty fails.</p>`
        }<p><a href="/admin/compliance/record" download>Download the record (Markdown)</a></p></section>
      <details class="section card" open id="checklist"><summary><h2>GDPR checklist</h2></summary>
        <table class="checklist"><thead><tr><th>duty</th><th>article</th>
        <th>status</th><th>why</th></tr></thead><tbody>${rep.checklist.map(
          (
            i,
          ) => html`<tr data-check="${i.id}" id="check-${i.id}" class="${i.status === 'fail' ? 'overdue' : i.status === 'warn' ? 'has-issue' : ''}"><td>${i.duty}</td>
            <td>${i.article}</td><td>${badge(i.status)}</td><td>${i.detail}</td></tr>`,
        )}</tbody></table></details>
      ${recordView(rep.record)}`,
    );
  });

  r.get('/compliance/record', ...guard, async (c) => {
    const res = await raw(c, 'GET', '/v1/compliance/record');
    if (res.status !== 200)
      return render(c, 'Compliance', notice('The record is not available.', 'alert'), 502);
    return c.body(await res.text(), 200, {
      'content-type': res.headers.get('content-type') ?? 'text/markdown; charset=utf-8',
      'content-disposition': res.headers.get('content-disposition') ?? 'attachment; filename="record.md"',
    });
  });
}
