import type { ConnectorError } from '../../connectors/errors.ts';
import type { TemplateComponent, WhatsAppClient } from '../../connectors/whatsapp/client.ts';
import { mayMessage } from '../core/consent.ts';
import type { OutboxJob, Purpose } from '../core/types.ts';
import type { Store } from '../store/port.ts';
import type { HandlerResult } from '../sync/dispatcher.ts';
import type { Catalog, ReplyMessage } from './catalog-service.ts';
import type { Log } from './log.ts';
import type { Subject, Subjects } from './subjects.ts';

export interface MessagingDeps {
  store: Store;
  subjects: Subjects;
  catalog: Catalog;
  clock: () => Date;
  log: Log;
  /** null when WhatsApp sending is not configured */
  client: WhatsAppClient | null;
  /** records a marketing opt-out when Meta says the person stopped marketing (error 131050) */
  onRecipientStopped: (subject: Subject, reason: string) => Promise<void>;
  /**
   * True when an acknowledged webhook opt-out for the person and purpose waits in the inbox,
   * not yet decided (issue 17): a STOP acknowledged a moment before a send still stops it.
   */
  undecidedOptOut?: (hashes: string[], purpose: Purpose) => Promise<boolean>;
}

export type GuardedSendRequest = {
  subject: Subject;
  purpose: Purpose;
} & ({ text: string; template?: undefined } | { text?: undefined; template: TemplateRequest });

export interface TemplateRequest {
  name: string;
  languageCode?: string | undefined;
  components?: TemplateComponent[] | undefined;
}

export type GuardedSendResult =
  | { ok: true; messageId: string; privacyNotice: boolean }
  | { ok: false; reason: 'no_consent'; status: string }
  | { ok: false; reason: 'template_not_declared' }
  | { ok: false; reason: 'not_configured' }
  | { ok: false; reason: 'send_failed'; error: ConnectorError };

/**
 * Everything that leaves for WhatsApp: replies and confirmations from the outbox, and the send
 * guard for business messages (consent for the purpose, opt-out hint, privacy link on first contact).
 */
export class Messaging {
  private readonly d: MessagingDeps;

  constructor(deps: MessagingDeps) {
    this.d = deps;
  }

  /** Outbox handler for `whatsapp.send` jobs. */
  readonly handleJob = async (job: OutboxJob): Promise<HandlerResult> => {
    const client = this.d.client;
    if (!client)
      return { ok: false, retryable: true, error: 'WHATSAPP_NOT_CONFIGURED', retryAfterMs: 60_000 };
    const subject = job.subjectId ? await this.d.subjects.byId(job.subjectId) : null;
    if (!subject) return { ok: false, cancel: true, error: 'subject no longer exists' };
    // One read of the person's identifiers for both questions (erased? where to?).
    const rows = await this.d.store.identifiersOf([subject.row.id]);
    if (await this.d.subjects.tombstoned(subject, rows))
      return { ok: false, cancel: true, error: 'person erased' };
    const p = job.payload as { message: ReplyMessage; locale?: string; purposes?: Purpose[] };
    const locale = this.d.catalog.resolveLocale(p.locale ?? subject.row.locale);
    // The active number, else the BSUID; a former number is never messaged.
    const to = await this.d.subjects.address(subject, rows);
    if (!to) return { ok: false, cancel: true, error: 'no active WhatsApp identifier' };
    const firstContact = subject.row.privacyNoticeAt === null;
    const tpl = p.message === 'doiRequest' ? this.d.catalog.doiTemplate(locale) : null;
    const question = p.message === 'erasureQuestion' ? this.d.catalog.erasureQuestion(locale) : null;
    if (p.message === 'erasureQuestion' && !question)
      return { ok: false, cancel: true, error: 'no erasure question in the catalog' };
    const result = question
      ? await client.sendButtons({ to, body: question.body, buttons: question.buttons })
      : tpl
        ? await client.sendTemplate({ to, name: tpl.name, languageCode: tpl.languageCode })
        : await client.sendText({
            to,
            body: await this.d.catalog.reply(p.message, locale, p.purposes ?? [], firstContact),
          });
    if (!result.ok) return this.failed(subject, result.error);
    // The DOI request and any first message carry the privacy-policy link.
    const carriesNotice = firstContact || p.message === 'doiRequest';
    await this.record(subject, result.messageId, null, `reply:${p.message}`, carriesNotice);
    return { ok: true };
  };

  /** The send guard behind `POST /v1/messages`. */
  async guardedSend(req: GuardedSendRequest): Promise<GuardedSendResult> {
    const { subject, purpose } = req;
    // An erasure blocks every send from the moment it is requested.
    if (await this.d.subjects.tombstoned(subject))
      return { ok: false, reason: 'no_consent', status: 'erased' };
    if (this.d.undecidedOptOut) {
      const ids = await this.d.store.identifiersOf([subject.row.id]);
      const hashes = [...new Set([subject.row.phoneHash, ...ids.map((i) => i.hash)])];
      if (await this.d.undecidedOptOut(hashes, purpose))
        return { ok: false, reason: 'no_consent', status: 'opted_out' };
    }
    const states = await this.d.store.getStates(subject.row.id);
    const state = states.find((s) => s.purpose === purpose);
    if (!mayMessage(state)) return { ok: false, reason: 'no_consent', status: state?.status ?? 'none' };
    const client = this.d.client;
    if (!client) return { ok: false, reason: 'not_configured' };
    const locale = this.d.catalog.resolveLocale(subject.row.locale);
    const to = await this.d.subjects.address(subject);
    if (!to) return { ok: false, reason: 'no_consent', status: 'no_active_identifier' };
    const firstContact = subject.row.privacyNoticeAt === null;
    let result: Awaited<ReturnType<WhatsAppClient['sendText']>>;
    if (req.template) {
      const declared = this.d.catalog.template(req.template.name);
      if (!declared?.purposes.includes(purpose)) return { ok: false, reason: 'template_not_declared' };
      result = await client.sendTemplate({
        to,
        name: req.template.name,
        languageCode: req.template.languageCode ?? declared.languages[locale] ?? locale,
        ...(req.template.components ? { components: req.template.components } : {}),
      });
    } else {
      const body = await this.d.catalog.withHint(req.text, locale, firstContact);
      result = await client.sendText({ to, body });
    }
    if (!result.ok) {
      await this.failed(subject, result.error);
      return { ok: false, reason: 'send_failed', error: result.error };
    }
    await this.record(subject, result.messageId, purpose, 'business', firstContact);
    return { ok: true, messageId: result.messageId, privacyNotice: firstContact };
  }

  private async failed(subject: Subject, error: ConnectorError): Promise<HandlerResult> {
    if (error.code === 'RECIPIENT_STOPPED_MARKETING') {
      await this.d.onRecipientStopped(subject, 'meta_error_131050');
    }
    this.d.log.warn(
      { subjectId: subject.row.id, code: error.code, retryable: error.retryable },
      'whatsapp send failed',
    );
    return {
      ok: false,
      retryable: error.retryable,
      error: `${error.code}: ${error.message}`,
      retryAfterMs: error.retryAfterMs,
    };
  }

  private async record(
    subject: Subject,
    waMessageId: string,
    purpose: Purpose | null,
    kind: string,
    notice: boolean,
  ) {
    const now = this.d.clock().toISOString();
    await this.d.store.commit({
      // wamids embed the recipient's number: only their keyed hash is stored
      sentMessages: [
        {
          waMessageId: await this.d.subjects.hash(waMessageId),
          subjectId: subject.row.id,
          purpose,
          kind,
          sentAt: now,
        },
      ],
      ...(notice && subject.row.privacyNoticeAt === null
        ? { subjectUpdates: [{ id: subject.row.id, privacyNoticeAt: now }] }
        : {}),
    });
    if (notice && subject.row.privacyNoticeAt === null) subject.row.privacyNoticeAt = now;
  }
}
