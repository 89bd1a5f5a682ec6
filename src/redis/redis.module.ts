import { Global, Module } from '@nestjs/common';
import { RedisModule as RedisClientsModule } from '@liaoliaots/nestjs-redis';
import { RedisClientsOptions } from './redis-client-policy';
import { RedisService } from './redis.service';

/**
 * The named Redis clients come from @liaoliaots/nestjs-redis (not global: the rest of the app reaches Redis
 * through RedisService only). With REDIS_URL unset the library is given no client, and opens no connection.
 */
@Global()
@Module({
  imports: [RedisClientsModule.forRootAsync({ useClass: RedisClientsOptions }, false)],
  providers: [RedisService],
  exports: [RedisService],
})
export class RedisModule {}
