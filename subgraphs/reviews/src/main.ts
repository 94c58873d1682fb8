import { runService } from '@platform/shared';
import { startReviewsSubgraph } from './index.ts';

runService('reviews', () => startReviewsSubgraph());
