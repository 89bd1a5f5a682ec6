import { Global, Module } from '@nestjs/common';
import { getConnectionToken } from '@nestjs/mongoose';
import mongoose from 'mongoose';
import { DatabaseService } from './database.service';

/**
 * Provides the Mongoose connection under @nestjs/mongoose's token, so `@InjectConnection()` and
 * `MongooseModule.forFeature` work, without @nestjs/mongoose's forRoot: that one awaits the first connection
 * during bootstrap and fails start-up after its retries when MongoDB is away. DatabaseService opens it.
 */
@Global()
@Module({
  providers: [
    {
      provide: getConnectionToken(),
      useFactory: () => {
        const connection = mongoose.createConnection();
        // Fail at once while disconnected instead of buffering commands for 10 s.
        connection.set('bufferCommands', false);
        return connection;
      },
    },
    DatabaseService,
  ],
  exports: [getConnectionToken(), DatabaseService],
})
export class DatabaseModule {}
