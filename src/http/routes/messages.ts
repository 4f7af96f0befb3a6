import { createRoute, z } from '@hono/zod-openapi';
import { audit } from '../audit.ts';
import { requireRole } from '../auth.ts';
import { AppError } from '../errors.ts';
import type { Router } from '../router.ts';
import { bearer, errorResponses, PersonField, refOrThrow, requireKnownPurposes } from './shared.ts';

const SendRequest = z
  .object({
    phone: PersonField,
    purpose: z.string().min(1).max(64),
    text: z.string().min(1).max(3500).optional(),
    template: z
      .object({
        name: z.string().min(1).max(512),
        languageCode: z.string().min(2).max(15).optional(),
        components: z
          .array(z.object({ type: z.string().max(32) }).catchall(z.unknown()))
          .max(20)
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((b) => (b.text === undefined) !== (b.template === undefined), {
    message: 'give exactly one of text or template',
  })
  .openapi('SendRequest', {
    example: { phone: '+4915112345678', purpose: 'marketing', text: 'Our spring offers are here.' },
  });

const route = createRoute({
  method: 'post',
  path: '/v1/messages',
  operationId: 'sendMessage',
  tags: ['messages'],
  summary: 'Send guard: sends only with consent for the purpose, adds the opt-out hint',
  security: bearer,
  middleware: [requireRole('operator')],
  request: { body: { content: { 'application/json': { schema: SendRequest } }, required: true } },
  responses: {
    200: {
      description: 'Sent',
      content: {
        'application/json': {
          schema: z.object({ messageId: z.string(), purpose: z.string(), privacyNotice: z.boolean() }),
        },
      },
    },
    409: { description: 'No consent for the purpose; nothing sent', content: errorResponses[400].content },
    422: errorResponses[400],
    502: errorResponses[400],
    503: errorResponses[400],
    ...errorResponses,
  },
});

export function messageRoutes(app: Router) {
  app.openapi(route, async (c) => {
    const body = c.req.valid('json');
    const { subjects, messaging, catalog, config } = c.var.services;
    requireKnownPurposes([body.purpose], catalog.purposes);
    // A number or a BSUID: a person known only by BSUID can be messaged, under the same guard.
    const subject = await subjects.findValue(refOrThrow(body.phone, config.DEFAULT_COUNTRY).value);
    if (!subject)
      throw new AppError(409, 'NO_CONSENT', `no consent for ${body.purpose}: the person is unknown`);
    const result = await messaging.guardedSend(
      body.template
        ? { subject, purpose: body.purpose, template: body.template }
        : { subject, purpose: body.purpose, text: body.text ?? '' },
    );
    if (!result.ok) {
      switch (result.reason) {
        case 'no_consent':
          throw new AppError(409, 'NO_CONSENT', `no consent for ${body.purpose}: status is ${result.status}`);
        case 'template_not_declared':
          throw new AppError(
            422,
            'TEMPLATE_NOT_DECLARED',
            'the template is not declared for this purpose in catalog/templates.json',
          );
        case 'not_configured':
          throw new AppError(
            503,
            'WHATSAPP_NOT_CONFIGURED',
            'WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID are not set',
          );
        case 'send_failed':
          throw new AppError(
            502,
            'WHATSAPP_SEND_FAILED',
            `WhatsApp refused the message: ${result.error.code}`,
            {
              retryable: result.error.retryable,
            },
          );
      }
    }
    await audit(c, 'message.send', subject.row.id, { purpose: body.purpose, messageId: result.messageId });
    return c.json(
      { messageId: result.messageId, purpose: body.purpose, privacyNotice: result.privacyNotice },
      200,
    );
  });
}
