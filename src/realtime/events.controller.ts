import { BadRequestException, Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { publishEventErrors, publishEventSchema } from './dto/publish-event.dto';
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
  publish(@Body() body: unknown): PublishResult {
    const parsed = publishEventSchema.safeParse(body);
    if (!parsed.success) {
      throw new BadRequestException({
        statusCode: HttpStatus.BAD_REQUEST,
        error: 'Bad Request',
        message: 'Invalid event',
        errors: publishEventErrors(parsed.error),
      });
    }
    return this.publisher.publish(parsed.data);
  }
}
