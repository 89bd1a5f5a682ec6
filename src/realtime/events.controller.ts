import {
  BadRequestException,
  Body,
  Controller,
  Headers,
  HttpCode,
  HttpStatus,
  Post,
  Res,
} from '@nestjs/common';
import type { Response } from 'express';
import { publishEventErrors, publishEventSchema } from './dto/publish-event.dto';
import { IDEMPOTENCY_KEY_PATTERN } from './realtime.events';
import { PublishResult, RealtimePublisher } from './realtime.publisher';

/**
 * How the rest of the trading system pushes events to connected users: `POST /events` with
 * `Authorization: Bearer <PUBLISH_TOKEN>`. The token, the content type, the size and the arrival time of the
 * body are checked before this handler, by PublishPrecheckMiddleware and PublishBodyMiddleware (RealtimeModule):
 * a request that reaches it is authorised and carries parsed JSON.
 */
@Controller('events')
export class EventsController {
  constructor(private readonly publisher: RealtimePublisher) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  async publish(
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<PublishResult> {
    const errors = [];
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
      errors.push({
        field: 'Idempotency-Key',
        message: 'must be 1-255 visible ASCII characters (letters, digits, punctuation; no spaces)',
      });
    }
    const parsed = publishEventSchema.safeParse(body);
    if (!parsed.success) errors.push(...publishEventErrors(parsed.error));
    if (!parsed.success || errors.length > 0) {
      throw new BadRequestException({
        statusCode: HttpStatus.BAD_REQUEST,
        error: 'Bad Request',
        message: 'Invalid event',
        errors,
      });
    }
    const answer = await this.publisher.publish(parsed.data, idempotencyKey);
    if (answer.repeated) res.setHeader('Idempotent-Replayed', 'true');
    return answer.result;
  }
}
