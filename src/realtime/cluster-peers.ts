import { Injectable } from '@nestjs/common';

/**
 * How many replicas (this one included) are alive, as the cluster heartbeat last saw them: ClusterModule sets
 * it, the publisher reads it to tell whether Redis handed a publication to every replica's subscription.
 * Null until known (single instance, or no heartbeat read yet): then the subscriber count is not judged.
 */
@Injectable()
export class ClusterPeers {
  liveReplicas: number | null = null;
}
