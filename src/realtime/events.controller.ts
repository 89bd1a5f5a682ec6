import {
  BadRequestException,
  Body,
  Controller,
  Headers,
  HttpCode,
  HttpStatus,
  Post,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { bearerToken, safeEqual } from '../common/constant-time';
import { publishEventErrors, publishEventSchema } from './dto/publish-event.dto';
import { PublishResult, RealtimeGateway } from './realtime.gateway';

/**
 * How the rest of the trading system pushes events to connected users: `POST /events` with
 * `Authorization: Bearer <PUBLISH_TOKEN>`. Disabled (503) while PUBLISH_TOKEN is unset.
 */
@Controller('events')
export class EventsController {
  constructor(
    private readonly config: AppConfig,
    private readonly gateway: RealtimeGateway,
  ) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  publish(@Headers('authorization') authorization: string | undefined, @Body() body: unknown): PublishResult {
    const token = this.config.env.PUBLISH_TOKEN;
    if (token === undefined) {
      throw new ServiceUnavailableException(
        'Publishing is disabled: PUBLISH_TOKEN is not set on this server',
      );
    }
    const given = bearerToken(authorization);
    if (given === null || !safeEqual(given, token)) {
      throw new UnauthorizedException('A valid PUBLISH_TOKEN bearer token is required');
    }
    const parsed = publishEventSchema.safeParse(body);
    if (!parsed.success) {
      throw new BadRequestException({
        statusCode: HttpStatus.BAD_REQUEST,
        error: 'Bad Request',
        message: 'Invalid event',
        errors: publishEventErrors(parsed.error),
      });
    }
    return this.gateway.publish(parsed.data);
  }
}
